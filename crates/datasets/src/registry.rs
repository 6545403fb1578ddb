//! What each data set is: where it comes from, the task, the metrics, the split protocol and
//! the license; and `load`, which dispatches on the name.

use serde::Serialize;

use crate::{DatasetError, Example, Metric, Result, SplitSizes, Splits, Task, mini, paper};

/// Paper data set, or a member of the embedded offline mini suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Suite {
    Paper,
    Mini,
}

/// Where the files come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Source {
    /// A Hugging Face Hub data-set repository at a revision; `files` are the paths read.
    Hub {
        repo: &'static str,
        config: Option<&'static str>,
        revision: &'static str,
        files: &'static [&'static str],
    },
    /// Generated or embedded in this crate; needs no network.
    Embedded { generator: &'static str },
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::Hub { repo, config: Some(c), revision, .. } => format!("hf:{repo} ({c}) @ {revision}"),
            Source::Hub { repo, config: None, revision, .. } => format!("hf:{repo} @ {revision}"),
            Source::Embedded { generator } => format!("embedded: {generator}"),
        }
    }
}

/// Everything a report or the runner needs to know about a data set without loading it.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct DatasetInfo {
    /// The name used on the command line and in the ledger, e.g. `mrpc`, `mini-digits`.
    pub name: &'static str,
    /// The paper's name for it, e.g. `MRPC`, `TREC-50`.
    pub title: &'static str,
    pub suite: Suite,
    pub source: Source,
    pub task: Task,
    /// The metric the paper reports (Table 2).
    pub metric: Metric,
    /// Further metrics reported beside it.
    pub secondary_metrics: &'static [Metric],
    /// Class names by index, where the release defines them.
    pub class_names: &'static [&'static str],
    /// How train / validation / test are formed, as a sentence printed in reports.
    pub split_protocol: &'static str,
    /// Sizes the protocol yields on the full release (`None` where not pinned down here).
    pub expected_sizes: Option<SplitSizes>,
    /// Paper Table 7: maximum sequence length (or image size) per model that used it.
    pub max_length: &'static [(&'static str, usize)],
    pub license: &'static str,
}

impl DatasetInfo {
    /// Table 7's max length for `model` (a substring match on the model name), else the first
    /// listed, else `None`.
    pub fn max_length_for(&self, model: &str) -> Option<usize> {
        self.max_length
            .iter()
            .find(|(m, _)| model.contains(m))
            .or(self.max_length.first())
            .map(|&(_, n)| n)
    }

    /// The paths of this data set's files that are not yet in the hub cache (empty for
    /// embedded data sets and fully cached ones).
    pub fn missing_files(&self, hub: &hub::Hub) -> Vec<&'static str> {
        match self.source {
            Source::Hub { repo, revision, files, .. } => {
                let r = hub::HubRepo::dataset(repo).at(revision);
                files.iter().copied().filter(|f| !hub.is_cached(&r, f)).collect()
            }
            Source::Embedded { .. } => vec![],
        }
    }
}

/// The paper's 14 data sets, in the order of the paper's Table 2 groups, then the mini suite.
pub fn registry() -> Vec<&'static DatasetInfo> {
    vec![
        &paper::office_home::INFO,
        &paper::cifar10::INFO,
        &paper::mrpc::INFO,
        &paper::cola::INFO,
        &paper::stsb::INFO,
        &paper::rte::INFO,
        &paper::trec::INFO,
        &paper::paws::INFO,
        &paper::e2e::INFO,
        &paper::django::INFO,
        &paper::openbookqa::INFO,
        &paper::folio::INFO,
        &paper::logiqa::INFO,
        &paper::clutrr::INFO,
        &mini::digits::INFO,
        &mini::text::PARAPHRASE_INFO,
        &mini::text::ACCEPTABILITY_INFO,
        &mini::text::QUESTION_TYPE_INFO,
        &mini::text::SIMILARITY_INFO,
        &mini::text::SENTIMENT_INFO,
        &mini::data_to_text::INFO,
        &mini::corpus::INFO,
    ]
}

/// The registered data set called `name`.
pub fn info(name: &str) -> Result<&'static DatasetInfo> {
    registry().into_iter().find(|i| i.name == name).ok_or_else(|| DatasetError::Unknown {
        name: name.into(),
        known: registry().iter().map(|i| i.name).collect::<Vec<_>>().join(", "),
    })
}

/// Loads `name` with its split protocol applied: paper data sets through `hub` (cache, token,
/// offline mode), mini ones generated in memory. Fails if any split comes out empty.
pub fn load(name: &str, hub: &hub::Hub) -> Result<Splits<Example>> {
    let info = info(name)?;
    let splits = match name {
        "office-home" => paper::office_home::load(hub)?,
        "cifar10" => paper::cifar10::load(hub)?,
        "mrpc" => paper::mrpc::load(hub)?,
        "cola" => paper::cola::load(hub)?,
        "stsb" => paper::stsb::load(hub)?,
        "rte" => paper::rte::load(hub)?,
        "trec50" => paper::trec::load(hub)?,
        "paws" => paper::paws::load(hub)?,
        "e2e" => paper::e2e::load(hub)?,
        "django" => paper::django::load(hub)?,
        "openbookqa" => paper::openbookqa::load(hub)?,
        "folio" => paper::folio::load(hub)?,
        "logiqa2" => paper::logiqa::load(hub)?,
        "clutrr" => paper::clutrr::load(hub)?,
        mini => mini::generate(mini).unwrap_or_else(|| unreachable!("registered but not dispatched: {name}")),
    };
    splits.ensure_non_empty(info.name, &info.source.describe())?;
    Ok(splits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_holds_the_papers_fourteen_and_the_mini_suite_consistently() {
        let all = registry();
        let paper: Vec<_> = all.iter().filter(|i| i.suite == Suite::Paper).map(|i| i.title).collect();
        assert_eq!(
            paper,
            ["OfficeHome", "CIFAR-10", "MRPC", "CoLA", "STS-B", "RTE", "TREC-50", "PAWS", "E2E", "DJANGO", "OpenBookQA", "FOLIO", "LogiQA 2.0", "CLUTRR"]
        );
        assert_eq!(all.iter().filter(|i| i.suite == Suite::Mini).count(), 8);
        let mut names: Vec<_> = all.iter().map(|i| i.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all.len(), "names are unique");
        for i in &all {
            if !i.class_names.is_empty() {
                assert_eq!(Some(i.class_names.len()), i.task.num_classes(), "{}", i.name);
            }
            match i.task {
                Task::TextRegression { .. } => assert_eq!(i.metric, Metric::Pearson, "{}", i.name),
                Task::CausalLm => assert!(matches!(i.metric, Metric::Perplexity | Metric::ExactMatch), "{}", i.name),
                _ => assert!(matches!(i.metric, Metric::Accuracy | Metric::MatthewsCorrelation), "{}", i.name),
            }
            assert!(!i.split_protocol.is_empty() && !i.license.is_empty(), "{}", i.name);
        }
        assert_eq!(info("cola").unwrap().metric, Metric::MatthewsCorrelation);
        assert_eq!(info("stsb").unwrap().secondary_metrics, &[Metric::Spearman]);
        assert_eq!(info("mrpc").unwrap().max_length_for("roberta-base"), Some(128));
        assert_eq!(info("mrpc").unwrap().max_length_for("deberta-v3-base"), Some(512));
        let e = info("imagenet").unwrap_err().to_string();
        assert!(e.starts_with("unknown data set `imagenet`; known: office-home, cifar10, mrpc"), "{e}");
    }
}
