//! The embedded mini suite: fixed sizes, byte-identical generation (pinned SHA-256 per
//! split), learnable-in-principle labels, and the word-level tokenizer.

use std::collections::{BTreeMap, HashSet};

use datasets::mini::{self, splits_hashes};
use datasets::{Example, Input, Label, SplitSizes, Splits};

fn no_hub() -> hub::Hub {
    hub::Hub::offline_at(std::env::temp_dir().join("datasets-mini-no-hub"))
}

fn load(name: &str) -> Splits<Example> {
    datasets::load(name, &no_hub()).unwrap()
}

/// Pinned SHA-256 of every split of every mini data set. A change here means the generated
/// data changed: bump it only on purpose (it changes every mini result).
const PINNED: &[(&str, [&str; 3])] = &[
    (
        "mini-digits",
        [
            "0fc3058bc18ebe01a35551fe61344f793a11c33450f98056277d4cd7a5df0267",
            "207321005d9d930f6dbe3f16726ae3def5b439e018f842724b688a2a8163eda5",
            "48016f21ac8842e61405a82f3ebf3974428fedf1fbcad9293b0ce3925a322461",
        ],
    ),
    (
        "mini-paraphrase",
        [
            "eadf3f425a0e94cbd047e3b806458117e950deaa3463af9bca1b21384eca4930",
            "ce34028e761d593672ac195a81a2c7b6df20d13ac8a399add171e0f5bed52c07",
            "73f699413b53fc576c255d1965cfc6a4f304ffd7a4d6e799abbbd5c2b0a4822f",
        ],
    ),
    (
        "mini-acceptability",
        [
            "6758e988f10b48ef589948a84a88946465b3bb20ec650d57ccf5b065f6f5208b",
            "4898e9e0d94755886d165012c8945ecbfb9fd68a1b482048480bcb886432b492",
            "6fcdd564558e36956ba28743f051fa748ba1b9d0c69eb1530d7f40a9bae6c1f3",
        ],
    ),
    (
        "mini-question-type",
        [
            "d9afc05ccbe2d00b3be3fcf79e9b13b88708e6ee7f53ab76ff45d52bc6e0e66f",
            "8ccbefc12e6e9dddba04a81b8d8d8fc6a60ec33787586ad01d9419dc7c1fa13c",
            "7f688f018a9421e5b502229afacb3619c4c64964532ff21ca9ac4908b82ed6af",
        ],
    ),
    (
        "mini-similarity",
        [
            "771cb9fa5874abf3bd753d17c363437c550f8424d9aa3065092f421ca2e24fc2",
            "89b67e03dc38a9091b38055ccc6753d513716614330f2b73bca5dbb570a176f6",
            "ef048db25bf9293c614f8f401afc453e22189c38bca5482d5c1f34f961ccd223",
        ],
    ),
    (
        "mini-sentiment",
        [
            "29aa140e18ee2c21d5485a6f32ee8d082bdb7f41110cae1acc4516ffafffa5c2",
            "dc81ba64bb635576038af5b693f1283e6241fbebbf899c0ef953a9dca0a1db28",
            "b91ed84061b10557424aff085c0922baf224d36f9639d430775a486c36f3f62f",
        ],
    ),
    (
        "mini-data-to-text",
        [
            "e8ade184593937349715a5b46a7273d9f2ac71e9971f85c46f90bd906f772759",
            "dc61108ff5b5f0286244366835799fee84e8221deff3035b9add5bb43dd23ec8",
            "ae66d459dc3f4c68e0121169ad898d52c410430ef6124f951d8aee5c9452b466",
        ],
    ),
    (
        "mini-corpus",
        [
            "8a55c848bd23bb033d9dc25f1beed91f495afc7dd5d00d3844f14af55b90cadb",
            "e4f7c8cf81fed553f0aa372c236ce2ff9eaee1d75b2cc08a41cdadd251adc13d",
            "20ca06fdf96406f18a03cf275e54753f605abdecba1631c68b23fe0a8ca91a9f",
        ],
    ),
];

#[test]
fn every_mini_split_is_byte_identical_to_its_pinned_hash() {
    let mut actual = vec![];
    for (name, _) in PINNED {
        let h = splits_hashes(&load(name));
        // Generating twice in one process gives the same bytes too.
        assert_eq!(h, splits_hashes(&load(name)), "{name}");
        actual.push((name, h));
    }
    for ((name, want), (_, got)) in PINNED.iter().zip(&actual) {
        assert_eq!(&got.each_ref().map(String::as_str), want, "{name}: all hashes now: {actual:#?}");
    }
}

#[test]
fn mini_sizes_are_the_documented_ones() {
    for info in datasets::registry().into_iter().filter(|i| i.suite == datasets::Suite::Mini) {
        assert_eq!(Some(load(info.name).sizes()), info.expected_sizes, "{}", info.name);
    }
    assert_eq!(load("mini-digits").sizes(), SplitSizes { train: 1_257, validation: 269, test: 271 });
}

fn label_counts(splits: &Splits<Example>) -> BTreeMap<usize, usize> {
    let mut m = BTreeMap::new();
    for e in splits.train.iter().chain(&splits.validation).chain(&splits.test) {
        *m.entry(e.class().unwrap()).or_default() += 1;
    }
    m
}

#[test]
fn mini_labels_are_balanced_and_inputs_unique() {
    let counts = label_counts(&load("mini-digits"));
    assert_eq!(counts.len(), 10);
    assert!(counts.values().all(|&c| (174..=183).contains(&c)), "{counts:?}");
    for name in ["mini-paraphrase", "mini-acceptability", "mini-sentiment"] {
        assert_eq!(label_counts(&load(name)).into_values().collect::<Vec<_>>(), vec![1_250, 1_250], "{name}");
    }
    assert_eq!(label_counts(&load("mini-question-type")).into_values().collect::<Vec<_>>(), vec![250; 14]);
    let sim = load("mini-similarity");
    let mut scores = BTreeMap::new();
    for e in sim.train.iter().chain(&sim.validation).chain(&sim.test) {
        *scores.entry(e.score().unwrap() as u32).or_insert(0usize) += 1;
    }
    assert_eq!(scores.keys().copied().collect::<Vec<_>>(), vec![0, 1, 2, 3, 4, 5]);
    assert!(scores.values().all(|&c| (330..=510).contains(&c)), "{scores:?}");
    for name in ["mini-paraphrase", "mini-acceptability", "mini-question-type", "mini-similarity", "mini-sentiment"] {
        let s = load(name);
        let all: Vec<_> = s.train.iter().chain(&s.validation).chain(&s.test).map(|e| format!("{:?}", e.input)).collect();
        assert_eq!(all.iter().collect::<HashSet<_>>().len(), all.len(), "{name}: inputs repeat across splits");
    }
}

/// The word multiset of a sentence without function words and punctuation, with adjective
/// synonyms mapped to one form: what a paraphrase must preserve.
fn content(s: &str) -> Vec<String> {
    let syn: BTreeMap<&str, &str> = mini::lexicon::ADJECTIVES.iter().map(|&(a, b)| (b, a)).collect();
    let mut v: Vec<String> = s
        .split(' ')
        .filter(|w| !["the", "in", "is", "by", ",", "."].contains(w))
        .map(|w| syn.get(w).copied().unwrap_or(w).to_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn mini_labels_are_functions_of_the_text() {
    // Paraphrase: label 1 exactly when the two sentences share their content words (verb
    // forms aside: compare after mapping every verb form to its base).
    let base: BTreeMap<&str, &str> = mini::lexicon::VERBS
        .iter()
        .flat_map(|&(b, s, p, pp)| [(b, b), (s, b), (p, b), (pp, b)])
        .collect();
    let norm = |s: &str| -> Vec<String> {
        let mut v: Vec<String> = content(s).into_iter().map(|w| base.get(w.as_str()).map(|b| b.to_string()).unwrap_or(w)).collect();
        v.sort();
        v
    };
    for e in load("mini-paraphrase").train {
        let Input::TextPair(a, b) = &e.input else { panic!() };
        assert_eq!(norm(a) == norm(b), e.class() == Some(1), "{a} | {b}");
    }
    // Similarity: 5 − score content slots differ (each changed slot changes one word).
    for e in load("mini-similarity").train.iter().take(300) {
        let Input::TextPair(a, b) = &e.input else { panic!() };
        let (na, nb) = (norm(a), norm(b));
        let shared = na.iter().filter(|w| nb.contains(w)).count();
        assert!(shared >= e.score().unwrap() as usize, "{a} | {b} | {:?}", e.label);
    }
    // Sentiment: an independent reading of the five constructions — the deciding clause
    // (after `but`, before `, although`), its polarity word or verb, flipped by a negation.
    let has = |clause: &str, words: &[&str]| clause.split(' ').any(|w| words.contains(&w));
    let liking: Vec<&str> = mini::lexicon::LIKING.iter().flat_map(|&(b, p)| [b, p]).collect();
    let disliking: Vec<&str> = mini::lexicon::DISLIKING.iter().flat_map(|&(b, p)| [b, p]).collect();
    let sentiment = load("mini-sentiment");
    for e in sentiment.train.iter().chain(&sentiment.test) {
        let Input::Text(t) = &e.input else { panic!() };
        let clause = match (t.split_once(" but "), t.split_once(" , although ")) {
            (Some((_, second)), _) => second,
            (_, Some((first, _))) => first,
            _ => t.as_str(),
        };
        let positive = if has(clause, &liking) {
            true
        } else if has(clause, &disliking) {
            false
        } else {
            assert_ne!(has(clause, mini::lexicon::POSITIVE), has(clause, mini::lexicon::NEGATIVE), "{t}");
            has(clause, mini::lexicon::POSITIVE)
        };
        assert_eq!(positive != has(clause, &["not"]), e.class() == Some(1), "{t}");
    }
    // Data-to-text: the target verbalises the prompt's slots in the prompt's voice.
    for e in load("mini-data-to-text").train.iter().take(300) {
        let (Input::Text(prompt), Label::Text(target)) = (&e.input, &e.label) else { panic!() };
        let slot = |key: &str| prompt.split(" ; ").find_map(|s| s.trim_end_matches(" ;").strip_prefix(&format!("{key} = "))).unwrap().to_owned();
        for key in ["animal", "object", "place"] {
            assert!(target.contains(&slot(key)), "{prompt} → {target}");
        }
        match slot("voice").as_str() {
            "passive" => assert!(target.starts_with(&format!("the {} is ", slot("object"))) && target.contains(" by the "), "{target}"),
            "fronted" => assert!(target.starts_with(&format!("in the {} , the {}", slot("place"), slot("animal"))), "{target}"),
            _ => assert!(target.starts_with(&format!("the {} ", slot("animal"))), "{prompt} → {target}"),
        }
    }
    // Question type: the same question text never carries two classes.
    let mut seen = BTreeMap::new();
    for e in load("mini-question-type").train {
        let c = e.class().unwrap();
        let Input::Text(q) = e.input else { panic!() };
        assert_eq!(*seen.entry(q).or_insert(c), c);
    }
}

const PINNED_TOKENIZER_JSON_SHA256: &str = "145f35fa9fcbd2c72ba2b577c03dc75a8c6f831ad8f807ea555c84b2b69d7370";

#[test]
fn mini_tokenizer_round_trips_and_encodes_known_ids() {
    let json = mini::tokenizer::tokenizer_json();
    assert_eq!(json, mini::tokenizer::tokenizer_json(), "byte-identical");
    assert_eq!(mini::hex_sha256(json.as_bytes()), PINNED_TOKENIZER_JSON_SHA256);
    let dir = tempfile::tempdir().unwrap();
    let path = mini::tokenizer::save(dir.path()).unwrap();
    let tok = tokenizers::Tokenizer::from_file(&path).unwrap();
    assert_eq!(tok.token_to_id("[PAD]"), Some(0));
    assert_eq!(tok.token_to_id("[EOS]"), Some(6));
    let vocab = tok.get_vocab_size(true);
    let words = mini::tokenizer::words();
    assert_eq!(vocab, 7 + words.len());
    let id = |w: &str| tok.token_to_id(w).unwrap();
    let enc = tok.encode(("The big cat chases the red ball.", "In the park!"), true).unwrap();
    assert_eq!(
        enc.get_tokens(),
        ["[CLS]", "the", "big", "cat", "chases", "the", "red", "ball", ".", "[SEP]", "in", "the", "park", "!", "[SEP]"]
            .map(String::from)
            .to_vec()
            .iter()
            .map(|t| if tok.token_to_id(t).is_some() { t.clone() } else { "[UNK]".into() })
            .collect::<Vec<_>>()
    );
    assert_eq!(enc.get_ids()[..4], [2, id("the"), id("big"), id("cat")]);
    assert_eq!(enc.get_type_ids(), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
    // Ids are assigned in sorted word order after the seven specials.
    let first = words.iter().next().unwrap();
    assert_eq!(id(first), 7);
    assert_eq!(tok.decode(&enc.get_ids()[1..9], true).unwrap(), "the big cat chases the red ball .");
    // No mini text ever hits [UNK].
    for name in ["mini-paraphrase", "mini-acceptability", "mini-question-type", "mini-similarity", "mini-sentiment", "mini-data-to-text"] {
        for e in load(name).test {
            if let Label::Text(t) = &e.label {
                assert!(!tok.encode(t.as_str(), false).unwrap().get_ids().contains(&1), "{name}: {t}");
            }
            let ids = match &e.input {
                Input::Text(t) => tok.encode(t.as_str(), false).unwrap().get_ids().to_vec(),
                Input::TextPair(a, b) => tok.encode((a.as_str(), b.as_str()), false).unwrap().get_ids().to_vec(),
                Input::Image(_) => unreachable!(),
            };
            assert!(!ids.contains(&1), "{name}: {:?}", e.input);
        }
    }
    let Label::Text(_) = load("mini-corpus").train[0].label else { panic!() };
}
