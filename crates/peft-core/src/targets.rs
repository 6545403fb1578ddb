//! Which linear layers of a model to adapt, as HF PEFT's `target_modules`.

use serde::{Deserialize, Serialize};

/// `Names(["query", "value"])` adapts every linear whose name is, or ends with `.`, one of
/// the names (PEFT's suffix match); `AllLinear` adapts every linear but the task head.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TargetModules {
    AllLinear(AllLinear),
    Names(Vec<String>),
}

/// The literal `"all-linear"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AllLinear {
    #[serde(rename = "all-linear")]
    AllLinear,
}

pub use methods::ALL_LINEAR;

impl TargetModules {
    /// A cell's `target_modules` list: module names, or `["all-linear"]`.
    pub fn from_list(list: &[String]) -> Self {
        if list.len() == 1 && list[0] == ALL_LINEAR {
            return Self::all_linear();
        }
        Self::Names(list.to_vec())
    }

    /// The names that match none of `paths` (a model's linear layers); empty for `all-linear`.
    pub fn unmatched<'a>(&self, paths: impl IntoIterator<Item = &'a str> + Clone) -> Vec<String> {
        match self {
            TargetModules::AllLinear(_) => Vec::new(),
            TargetModules::Names(names) => {
                names.iter().filter(|n| !paths.clone().into_iter().any(|p| TargetModules::Names(vec![n.to_string()]).matches(p))).cloned().collect()
            }
        }
    }

    pub fn names(names: &[&str]) -> Self {
        Self::Names(names.iter().map(|s| s.to_string()).collect())
    }

    pub fn all_linear() -> Self {
        Self::AllLinear(AllLinear::AllLinear)
    }

    /// Whether the linear layer at `path` (e.g. `encoder.layer.3.attention.self.query`) is a
    /// target.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            TargetModules::AllLinear(_) => true,
            TargetModules::Names(names) => names
                .iter()
                .any(|n| path == n || path.ends_with(&format!(".{n}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_match_and_all_linear() {
        let t = TargetModules::names(&["query", "value"]);
        assert!(t.matches("encoder.layer.0.attention.self.query"));
        assert!(t.matches("value"));
        assert!(!t.matches("encoder.layer.0.attention.self.key"));
        assert!(!t.matches("encoder.layer.0.attention.self.query_proj"));
        assert!(TargetModules::all_linear().matches("anything"));
        assert_eq!(TargetModules::from_list(&["all-linear".to_string()]), TargetModules::all_linear());
        let qv = TargetModules::from_list(&["query".to_string(), "valeu".to_string()]);
        assert_eq!(qv.unmatched(["layer.0.attention.self.query", "layer.0.attention.self.value"]), vec!["valeu".to_string()]);
        assert!(TargetModules::all_linear().unmatched(["x"]).is_empty());
        let parsed: TargetModules = serde_json::from_str("\"all-linear\"").unwrap();
        assert_eq!(parsed, TargetModules::all_linear());
        let parsed: TargetModules = serde_json::from_str("[\"q_proj\",\"v_proj\"]").unwrap();
        assert!(parsed.matches("model.layers.0.self_attn.q_proj"));
    }
}
