//! The small closed world the mini text tasks and the pretraining corpus are written in:
//! animals that act on things in places. All words are lower case.

use crate::rng::SplitMix64;

/// (singular, plural)
pub const ANIMALS: &[(&str, &str)] = &[
    ("cat", "cats"), ("dog", "dogs"), ("fox", "foxes"), ("bird", "birds"), ("horse", "horses"),
    ("rabbit", "rabbits"), ("goat", "goats"), ("duck", "ducks"), ("mouse", "mice"), ("bear", "bears"),
    ("lion", "lions"), ("frog", "frogs"),
];

pub const OBJECTS: &[(&str, &str)] = &[
    ("ball", "balls"), ("book", "books"), ("box", "boxes"), ("cup", "cups"), ("hat", "hats"), ("key", "keys"),
    ("lamp", "lamps"), ("map", "maps"), ("pen", "pens"), ("rope", "ropes"), ("apple", "apples"), ("drum", "drums"),
];

/// Adjectives with a synonym each (used by the paraphrase task).
pub const ADJECTIVES: &[(&str, &str)] = &[
    ("big", "large"), ("small", "little"), ("quick", "fast"), ("happy", "glad"), ("quiet", "silent"),
    ("old", "ancient"), ("angry", "furious"), ("clever", "smart"),
];

/// Colours (adjectives without synonyms).
pub const COLOURS: &[&str] = &["red", "blue", "green", "yellow", "black", "white"];

/// (base, third person singular, past, past participle)
pub const VERBS: &[(&str, &str, &str, &str)] = &[
    ("chase", "chases", "chased", "chased"), ("see", "sees", "saw", "seen"), ("follow", "follows", "followed", "followed"),
    ("watch", "watches", "watched", "watched"), ("find", "finds", "found", "found"), ("carry", "carries", "carried", "carried"),
    ("push", "pushes", "pushed", "pushed"), ("pull", "pulls", "pulled", "pulled"), ("like", "likes", "liked", "liked"),
    ("help", "helps", "helped", "helped"), ("hide", "hides", "hid", "hidden"), ("take", "takes", "took", "taken"),
];

pub const PLACES: &[&str] = &[
    "park", "garden", "kitchen", "forest", "river", "school", "market", "village", "field", "house", "barn", "lake",
];

pub const NAMES: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "oscar", "peggy",
];

pub const CITIES: &[&str] = &["paris", "tokyo", "lima", "cairo", "oslo", "delhi", "rome", "quito"];
pub const COUNTRIES: &[&str] = &["france", "japan", "peru", "egypt", "norway", "india", "italy", "chile"];
pub const FOODS: &[&str] = &["bread", "cheese", "rice", "soup", "honey", "corn"];
pub const ABBREVIATIONS: &[&str] = &["nasa", "fbi", "dna", "ufo", "bbc", "cpu", "gps", "usb"];
/// Opinion words of the sentiment task, in two polarities.
pub const POSITIVE: &[&str] = &["good", "great", "lovely", "wonderful", "nice", "pleasant", "brilliant", "fine"];
pub const NEGATIVE: &[&str] = &["bad", "awful", "terrible", "poor", "nasty", "dull", "boring", "horrible"];
pub const INTENSIFIERS: &[&str] = &["very", "really", "quite", "so", "rather"];
/// Verbs of liking (positive) and disliking (negative): (base, past).
pub const LIKING: &[(&str, &str)] = &[("love", "loved"), ("enjoy", "enjoyed"), ("adore", "adored")];
pub const DISLIKING: &[(&str, &str)] = &[("hate", "hated"), ("dislike", "disliked"), ("fear", "feared")];

pub const NUMBERS: &[&str] = &["two", "three", "four", "five", "six", "seven", "eight", "nine"];

/// One content choice of a simple transitive sentence:
/// `the <adj> <animal> <verb> the <colour> <object> in the <place> .`
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Clause {
    pub adjective: usize,
    pub animal: usize,
    pub plural: bool,
    pub verb: usize,
    pub colour: usize,
    pub object: usize,
    pub place: usize,
}

impl Clause {
    pub fn random(g: &mut SplitMix64) -> Self {
        Self {
            adjective: g.below(ADJECTIVES.len()),
            animal: g.below(ANIMALS.len()),
            plural: g.below(3) == 0,
            verb: g.below(VERBS.len()),
            colour: g.below(COLOURS.len()),
            object: g.below(OBJECTS.len()),
            place: g.below(PLACES.len()),
        }
    }

    pub fn subject(&self, synonym: bool) -> String {
        let (a, s) = ADJECTIVES[self.adjective];
        let adj = if synonym { s } else { a };
        let noun = if self.plural { ANIMALS[self.animal].1 } else { ANIMALS[self.animal].0 };
        format!("the {adj} {noun}")
    }

    pub fn object_phrase(&self) -> String {
        format!("the {} {}", COLOURS[self.colour], OBJECTS[self.object].0)
    }

    pub fn finite_verb(&self) -> &'static str {
        if self.plural { VERBS[self.verb].0 } else { VERBS[self.verb].1 }
    }

    /// Active voice: `the big cat chases the red ball in the park .`
    pub fn active(&self, synonym: bool) -> String {
        format!("{} {} {} in the {} .", self.subject(synonym), self.finite_verb(), self.object_phrase(), PLACES[self.place])
    }

    /// Place fronted: `in the park , the big cat chases the red ball .`
    pub fn fronted(&self, synonym: bool) -> String {
        format!("in the {} , {} {} {} .", PLACES[self.place], self.subject(synonym), self.finite_verb(), self.object_phrase())
    }

    /// Passive voice: `the red ball is chased by the big cat in the park .`
    pub fn passive(&self, synonym: bool) -> String {
        format!("{} is {} by {} in the {} .", self.object_phrase(), VERBS[self.verb].3, self.subject(synonym), PLACES[self.place])
    }

    /// One of the three surface forms, chosen by `form % 3`.
    pub fn surface(&self, form: usize, synonym: bool) -> String {
        match form % 3 {
            0 => self.active(synonym),
            1 => self.fronted(synonym),
            _ => self.passive(synonym),
        }
    }
}
