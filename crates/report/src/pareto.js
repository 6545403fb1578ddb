// The Pareto page's charts (report::pareto writes the data into #pareto-data). Filters live in
// the URL's fragment (#axis=time&dataset=mrpc&hide=fft,lora) so a view can be linked.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("pareto-data").textContent);
  var form = document.getElementById("pareto-filters");
  var charts = document.getElementById("pareto-charts");
  var state = { axis: "memory", suite: "all", model: "all", dataset: "all", hide: [] };

  function readHash() {
    location.hash.replace(/^#/, "").split("&").forEach(function (kv) {
      var i = kv.indexOf("=");
      if (i < 0) return;
      var k = decodeURIComponent(kv.slice(0, i)), v = decodeURIComponent(kv.slice(i + 1));
      if (k === "hide") state.hide = v ? v.split(",") : [];
      else if (k in state) state[k] = v;
    });
  }

  function writeHash() {
    var h = "axis=" + encodeURIComponent(state.axis);
    ["suite", "model", "dataset"].forEach(function (k) {
      if (state[k] !== "all") h += "&" + k + "=" + encodeURIComponent(state[k]);
    });
    if (state.hide.length) h += "&hide=" + state.hide.map(encodeURIComponent).join(",");
    if (history.replaceState) history.replaceState(null, "", "#" + h);
  }

  function esc(s) {
    return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  }

  function cost(p, axis) {
    var v = axis === "memory" ? p.memory_bytes : axis === "time" ? p.wall_s : p.trainable;
    return v === null || v === undefined ? null : v;
  }

  // report::pareto::frontier: on the frontier when no other point has a cost as low and a
  // metric as good with one of them strictly better.
  function frontier(pts, higher) {
    var atLeast = function (a, b) { return higher ? a >= b : a <= b; };
    return pts.map(function (p, i) {
      return isFinite(p.c) && isFinite(p.q) && !pts.some(function (o, j) {
        return j !== i && isFinite(o.c) && isFinite(o.q) && o.c <= p.c && atLeast(o.q, p.q) && (o.c < p.c || o.q !== p.q);
      });
    });
  }

  var MiB = 1048576, GiB = 1073741824;
  function show(axis, v, max) {
    if (axis === "memory") return max < GiB ? (v / MiB).toFixed(v / MiB < 10 ? 1 : 0) + " MiB" : (v / GiB).toFixed(2) + " GiB";
    if (axis === "time") return max < 120 ? v.toFixed(v < 10 ? 1 : 0) + " s" : max < 7200 ? (v / 60).toFixed(1) + " min" : (v / 3600).toFixed(2) + " h";
    if (v >= 1e6) return (v / 1e6).toFixed(v >= 1e7 ? 0 : 1) + "M";
    if (v >= 1e3) return (v / 1e3).toFixed(v >= 1e4 ? 0 : 1) + "k";
    return String(Math.round(v));
  }

  // About five round ticks (1, 2 or 5 × 10^k apart) between lo and hi.
  function niceTicks(lo, hi) {
    var raw = (hi - lo || 1) / 5, p = Math.pow(10, Math.floor(Math.log10(raw))), r = raw / p;
    var step = (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * p, out = [];
    for (var t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(+t.toPrecision(12));
    return out;
  }

  function chart(group, methods) {
    var axis = state.axis, W = 580, H = 360, L = 60, R = 100, T = 34, B = 48;
    var pts = group.points.filter(function (p) { return methods.indexOf(p.method) >= 0 && cost(p, axis) !== null; })
      .map(function (p) { return { p: p, c: cost(p, axis), q: p.quality }; });
    var missing = group.points.filter(function (p) { return methods.indexOf(p.method) >= 0 && cost(p, axis) === null; });
    var on = frontier(pts, group.higher_is_better);
    var front = pts.filter(function (_, i) { return on[i]; }).sort(function (a, b) { return a.c - b.c; });
    var key = group.suite + "/" + group.model + "/" + group.dataset;
    var head = "<figure class=\"pareto-chart\" data-group=\"" + esc(key) + "\" data-axis=\"" + axis + "\" data-frontier=\"" +
      esc(front.map(function (f) { return f.p.method; }).join(",")) + "\">";
    var title = group.model + " / " + group.dataset + " (" + group.suite + ")";
    if (!pts.length) return head + "<p class=\"note\">" + esc(title) + ": no method shown has a " + esc(axis) + " value.</p></figure>";
    var cs = pts.map(function (x) { return x.c; }), qs = pts.map(function (x) { return x.q; });
    var cmin = Math.min.apply(null, cs), cmax = Math.max.apply(null, cs);
    var log = cmin > 0 && cmax / cmin >= 10;
    var f = log ? Math.log10 : function (v) { return v; };
    var x0 = f(cmin), x1 = f(cmax), pad = (x1 - x0) * 0.06 || (log ? 0.1 : Math.abs(x0) * 0.1 || 1);
    x0 -= pad; x1 += pad;
    var q0 = Math.min.apply(null, qs), q1 = Math.max.apply(null, qs), qpad = (q1 - q0) * 0.08 || Math.abs(q0) * 0.05 || 1;
    q0 -= qpad; q1 += qpad;
    var X = function (c) { return L + (f(c) - x0) / (x1 - x0) * (W - L - R); };
    var Y = function (q) { return H - B - (q - q0) / (q1 - q0) * (H - T - B); };
    var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " + W + " " + H + "\" width=\"" + W + "\" height=\"" + H + "\" font-family=\"sans-serif\" font-size=\"12\">";
    s += "<text x=\"" + L + "\" y=\"20\" font-size=\"14\" font-weight=\"bold\">" + esc(title) + "</text>";
    // Axes, grid and ticks.
    var xt = log ? (function () {
      var t = [], e0 = Math.floor(x0), e1 = Math.ceil(x1);
      for (var e = e0; e <= e1; e++) [1, 2, 5].forEach(function (m) { var v = m * Math.pow(10, e); if (f(v) >= x0 && f(v) <= x1) t.push(v); });
      return t;
    })() : niceTicks(x0, x1);
    xt.forEach(function (v) {
      var x = X(v).toFixed(1);
      s += "<line x1=\"" + x + "\" x2=\"" + x + "\" y1=\"" + T + "\" y2=\"" + (H - B) + "\" stroke=\"#eee\"/>";
      s += "<text x=\"" + x + "\" y=\"" + (H - B + 16) + "\" text-anchor=\"middle\" fill=\"#555\">" + esc(show(axis, v, cmax)) + "</text>";
    });
    niceTicks(q0, q1).forEach(function (v) {
      var y = Y(v).toFixed(1);
      s += "<line x1=\"" + L + "\" x2=\"" + (W - R) + "\" y1=\"" + y + "\" y2=\"" + y + "\" stroke=\"#eee\"/>";
      s += "<text x=\"" + (L - 6) + "\" y=\"" + y + "\" dy=\"4\" text-anchor=\"end\" fill=\"#555\">" + esc(+v.toPrecision(6)) + "</text>";
    });
    s += "<rect x=\"" + L + "\" y=\"" + T + "\" width=\"" + (W - L - R) + "\" height=\"" + (H - T - B) + "\" fill=\"none\" stroke=\"#999\"/>";
    var axisLabel = data.axes.filter(function (a) { return a.key === axis; })[0].label + (log ? " (log scale)" : "") + " — lower is better";
    s += "<text x=\"" + ((L + W - R) / 2) + "\" y=\"" + (H - 10) + "\" text-anchor=\"middle\">" + esc(axisLabel) + "</text>";
    s += "<text transform=\"translate(16 " + ((T + H - B) / 2) + ") rotate(-90)\" text-anchor=\"middle\">" +
      esc(group.metric + (group.higher_is_better ? " ↑" : " ↓")) + "</text>";
    // The frontier, then the points (dominated ones grey, under the frontier's).
    if (front.length > 1)
      s += "<polyline class=\"frontier-line\" fill=\"none\" stroke=\"#333\" stroke-dasharray=\"5 3\" points=\"" +
        front.map(function (p) { return X(p.c).toFixed(1) + "," + Y(p.q).toFixed(1); }).join(" ") + "\"/>";
    var order = pts.map(function (_, i) { return i; }).sort(function (a, b) { return on[a] - on[b]; });
    order.forEach(function (i) {
      var x = pts[i], m = data.methods.filter(function (d) { return d.method === x.p.method; })[0];
      var colour = on[i] ? m.colour : "#bbbbbb";
      var tip = x.p.label + ": " + x.p.quality.toFixed(2) + " ± " + x.p.quality_std.toFixed(2) + " (" + x.p.seeds + " seeds), " + show(axis, x.c, cmax);
      s += "<g class=\"point " + (on[i] ? "frontier" : "dominated") + "\" data-method=\"" + esc(x.p.method) + "\"><title>" + esc(tip) + "</title>" +
        "<circle cx=\"" + X(x.c).toFixed(1) + "\" cy=\"" + Y(x.q).toFixed(1) + "\" r=\"6\" fill=\"" + colour + "\" stroke=\"#fff\"/>" +
        "<text x=\"" + (X(x.c) + 9).toFixed(1) + "\" y=\"" + (Y(x.q) + 4).toFixed(1) + "\" fill=\"" + (on[i] ? "#000" : "#999") + "\">" + esc(x.p.label) + "</text></g>";
    });
    s += "</svg>";
    var note = missing.length ? "<figcaption class=\"note\">Without a " + esc(axis) + " value: " +
      esc(missing.map(function (p) { return p.label; }).join(", ")) + ".</figcaption>" : "";
    return head + s + note + "</figure>";
  }

  function values(k) {
    var out = [];
    data.groups.forEach(function (g) { if (out.indexOf(g[k]) < 0) out.push(g[k]); });
    return out;
  }

  function select(k, label, options) {
    var s = "<label>" + label + " <select name=\"" + k + "\">";
    options.forEach(function (o) {
      s += "<option value=\"" + esc(o[0]) + "\"" + (state[k] === o[0] ? " selected" : "") + ">" + esc(o[1]) + "</option>";
    });
    return s + "</select></label> ";
  }

  function controls() {
    var all = function (k) { return [["all", "all"]].concat(values(k).map(function (v) { return [v, v]; })); };
    var s = select("axis", "Cost", data.axes.map(function (a) { return [a.key, a.label]; }));
    s += select("suite", "Suite", all("suite")) + select("model", "Model", all("model")) + select("dataset", "Data set", all("dataset"));
    s += "<span class=\"methods\">Methods:";
    data.methods.forEach(function (m) {
      s += " <label><input type=\"checkbox\" name=\"method\" value=\"" + esc(m.method) + "\"" +
        (state.hide.indexOf(m.method) < 0 ? " checked" : "") + "><span style=\"color:" + m.colour + "\">●</span> " + esc(m.label) + "</label>";
    });
    form.innerHTML = s + "</span>";
  }

  function render() {
    var shown = data.methods.map(function (m) { return m.method; }).filter(function (m) { return state.hide.indexOf(m) < 0; });
    var groups = data.groups.filter(function (g) {
      return ["suite", "model", "dataset"].every(function (k) { return state[k] === "all" || g[k] === state[k]; });
    });
    charts.innerHTML = groups.length ? groups.map(function (g) { return chart(g, shown); }).join("") :
      "<p class=\"note\">No (model, data set) matches these filters.</p>";
  }

  form.addEventListener("change", function (e) {
    var t = e.target;
    if (t.name === "method") {
      state.hide = Array.prototype.filter.call(form.querySelectorAll("input[name=method]"), function (c) { return !c.checked; })
        .map(function (c) { return c.value; });
    } else if (t.name in state) {
      state[t.name] = t.value;
    }
    writeHash();
    render();
  });

  readHash();
  controls();
  render();
})();
