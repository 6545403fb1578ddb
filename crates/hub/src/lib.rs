//! hub: fetching files of Hugging Face Hub repositories (models and data sets) through the
//! standard cache (`HF_HOME`, default `~/.cache/huggingface`; files under `<HF_HOME>/hub`), with
//! `HF_TOKEN` for gated repositories, a revision per repository (some keep safetensors only on
//! `refs/pr/N`), and an offline mode (`HF_HUB_OFFLINE=1`) that reads the cache only and says
//! plainly which file is missing and how to fetch it.
//!
//! It owns nothing else: parsing what it fetches is the models' and datasets' business.

// HubError carries the repository, revision, file and a fetch hint so that the message says
// what to do; it only exists on the failure path, so its size does not matter.
#![allow(clippy::result_large_err)]

use std::path::{Path, PathBuf};

use hf_hub::{Cache, Repo, RepoType, api::sync::ApiBuilder};

/// What kind of repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepoKind {
    Model,
    Dataset,
}

/// One repository at one revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubRepo {
    pub id: String,
    pub kind: RepoKind,
    /// A branch, tag, commit or `refs/pr/N`; `main` by default.
    pub revision: String,
}

impl HubRepo {
    pub fn model(id: &str) -> Self {
        Self { id: id.into(), kind: RepoKind::Model, revision: "main".into() }
    }

    pub fn dataset(id: &str) -> Self {
        Self { id: id.into(), kind: RepoKind::Dataset, revision: "main".into() }
    }

    pub fn at(mut self, revision: &str) -> Self {
        self.revision = revision.into();
        self
    }

    fn hf_repo(&self) -> Repo {
        let kind = match self.kind {
            RepoKind::Model => RepoType::Model,
            RepoKind::Dataset => RepoType::Dataset,
        };
        Repo::with_revision(self.id.clone(), kind, self.revision.clone())
    }

    fn kind_flag(&self) -> &'static str {
        match self.kind {
            RepoKind::Model => "",
            RepoKind::Dataset => " --repo-type dataset",
        }
    }

    /// The command that fetches the whole repository.
    fn repo_hint(&self) -> String {
        format!("huggingface-cli download {}{} --revision {}", self.id, self.kind_flag(), self.revision)
    }

    fn cli_hint(&self, file: &str) -> String {
        format!("huggingface-cli download {}{} {file} --revision {}", self.id, self.kind_flag(), self.revision)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(
        "`{file}` of {repo} (revision `{revision}`) is not in the Hugging Face cache at {cache} \
         and offline mode is on (HF_HUB_OFFLINE=1 or --offline). Fetch it once with network \
         access, e.g. `{hint}`, or unset HF_HUB_OFFLINE"
    )]
    NotCached { repo: String, revision: String, file: String, cache: PathBuf, hint: String },

    #[error(
        "could not download `{file}` of {repo} (revision `{revision}`): {source}. If the \
         repository is gated, set HF_TOKEN; if this machine is offline, put the file in the \
         cache at {cache} (e.g. `{hint}` elsewhere and copy the cache) and set HF_HUB_OFFLINE=1"
    )]
    Download {
        repo: String,
        revision: String,
        file: String,
        cache: PathBuf,
        hint: String,
        source: Box<hf_hub::api::sync::ApiError>,
    },

    #[error(
        "nothing of {repo} (revision `{revision}`) is in the Hugging Face cache at {cache} and \
         offline mode is on, so its files cannot be listed. Fetch it once with network access, \
         e.g. `{hint}`, or unset HF_HUB_OFFLINE"
    )]
    NothingCached { repo: String, revision: String, cache: PathBuf, hint: String },

    #[error("hub cache at {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// Where files come from: the cache directory, the token, and whether the network may be used.
/// Its `Debug` says whether a token is set, never the token.
#[derive(Clone)]
pub struct Hub {
    /// The `hub` directory of the cache (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
    /// `~/.cache/huggingface/hub`).
    pub cache_dir: PathBuf,
    pub token: Option<String>,
    pub offline: bool,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("cache_dir", &self.cache_dir)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("offline", &self.offline)
            .finish()
    }
}

/// The token: `HF_TOKEN` when set and not empty, else the file `huggingface-cli login` writes
/// (`$HF_HOME/token`, read through `home`).
fn token_from(env_token: Option<String>, home: &Cache) -> Option<String> {
    env_token.filter(|t| !t.is_empty()).or_else(|| home.token())
}

impl Hub {
    /// From the environment: `HF_HUB_CACHE` / `HF_HOME`, `HF_TOKEN` (else `$HF_HOME/token`),
    /// `HF_HUB_OFFLINE`.
    pub fn from_env() -> Self {
        let home = Cache::from_env();
        let cache_dir = std::env::var_os("HF_HUB_CACHE").map(PathBuf::from).unwrap_or_else(|| home.path().clone());
        let token = token_from(std::env::var("HF_TOKEN").ok(), &home);
        let offline = std::env::var("HF_HUB_OFFLINE")
            .map(|v| matches!(v.as_str(), "1" | "true" | "TRUE" | "yes"))
            .unwrap_or(false);
        Self { cache_dir, token, offline }
    }

    /// A hub over an explicit cache directory, offline (as tests use it).
    pub fn offline_at(cache_dir: impl Into<PathBuf>) -> Self {
        Self { cache_dir: cache_dir.into(), token: None, offline: true }
    }

    /// The local path of `file` in `repo`: from the cache, else (when online) downloaded into it.
    pub fn get(&self, repo: &HubRepo, file: &str) -> Result<PathBuf, HubError> {
        let cache = Cache::new(self.cache_dir.clone());
        if let Some(path) = cache.repo(repo.hf_repo()).get(file) {
            return Ok(path);
        }
        if self.offline {
            return Err(HubError::NotCached {
                repo: repo.id.clone(),
                revision: repo.revision.clone(),
                file: file.into(),
                cache: self.cache_dir.clone(),
                hint: repo.cli_hint(file),
            });
        }
        let download_err = self.request_error(repo, file, repo.cli_hint(file));
        self.api().map_err(&download_err)?.repo(repo.hf_repo()).get(file).map_err(download_err)
    }

    /// The Hub API over this cache and token, with download progress bars.
    fn api(&self) -> Result<hf_hub::api::sync::Api, hf_hub::api::sync::ApiError> {
        ApiBuilder::from_cache(Cache::new(self.cache_dir.clone())).with_token(self.token.clone()).with_progress(true).build()
    }

    /// The error of a failed Hub request for `what` of `repo`, with the command that fetches it.
    fn request_error<'a>(&'a self, repo: &'a HubRepo, what: &'a str, hint: String) -> impl Fn(hf_hub::api::sync::ApiError) -> HubError + 'a {
        move |source| HubError::Download {
            repo: repo.id.clone(),
            revision: repo.revision.clone(),
            file: what.into(),
            cache: self.cache_dir.clone(),
            hint: hint.clone(),
            source: Box::new(source),
        }
    }

    /// The files of `repo` at its revision, as paths relative to the repository root
    /// (`data/train-00000-of-00001.parquet`), sorted. Online: the Hub's listing, cached or not.
    /// Offline: the files of the cached snapshot, the only ones that can be known then.
    pub fn list_files(&self, repo: &HubRepo) -> Result<Vec<String>, HubError> {
        if self.offline {
            return self.list_cached(repo);
        }
        let listing_err = self.request_error(repo, "(the file list)", repo.repo_hint());
        let info = self.api().map_err(&listing_err)?.repo(repo.hf_repo()).info().map_err(listing_err)?;
        let mut files: Vec<String> = info.siblings.into_iter().map(|s| s.rfilename).collect();
        files.sort();
        Ok(files)
    }

    /// The files of the cached snapshot that `repo`'s revision points to.
    fn list_cached(&self, repo: &HubRepo) -> Result<Vec<String>, HubError> {
        let folder = self.cache_dir.join(repo.hf_repo().folder_name());
        let nothing = || HubError::NothingCached {
            repo: repo.id.clone(),
            revision: repo.revision.clone(),
            cache: self.cache_dir.clone(),
            hint: repo.repo_hint(),
        };
        // A revision is a ref (a file holding the commit) or a commit itself.
        let commit = std::fs::read_to_string(folder.join("refs").join(&repo.revision))
            .map(|c| c.trim().to_string())
            .unwrap_or_else(|_| repo.revision.clone());
        let snapshot = folder.join("snapshots").join(commit);
        if !snapshot.is_dir() {
            return Err(nothing());
        }
        let mut files = Vec::new();
        list_tree(&snapshot, &snapshot, &mut files).map_err(|source| HubError::Io { path: snapshot.clone(), source })?;
        files.sort();
        Ok(files)
    }

    /// Whether `file` of `repo` is already in the cache (never touches the network).
    pub fn is_cached(&self, repo: &HubRepo, file: &str) -> bool {
        Cache::new(self.cache_dir.clone()).repo(repo.hf_repo()).get(file).is_some()
    }

    /// Copies the files of a local directory into the cache as `repo` at its revision, in the
    /// layout hf-hub itself writes (`<kind>s--org--name/snapshots/<commit>/…` and
    /// `refs/<revision>`). This is how a checkout made elsewhere (or a test fixture) is made
    /// available offline. Returns the snapshot directory.
    pub fn import_dir(&self, repo: &HubRepo, src: &Path, commit: &str) -> Result<PathBuf, HubError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| HubError::Io { path, source }
        };
        let cache = Cache::new(self.cache_dir.clone());
        let cache_repo = cache.repo(repo.hf_repo());
        cache_repo.create_ref(commit).map_err(io(&self.cache_dir))?;
        let snapshot = self
            .cache_dir
            .join(repo.hf_repo().folder_name())
            .join("snapshots")
            .join(commit);
        copy_tree(src, &snapshot).map_err(io(&snapshot))?;
        Ok(snapshot)
    }
}

/// Paths of the files under `dir`, relative to `root`, with `/` separators (symlinks, as hf-hub
/// writes them into snapshots, count as files).
fn list_tree(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            list_tree(root, &path, out)?;
        } else {
            let rel = path.strip_prefix(root).expect("under root");
            out.push(rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"));
        }
    }
    Ok(())
}

fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dst)?;
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let target = dst.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Debug` output (in logs, panics, error chains) never holds the token.
    #[test]
    fn debug_never_prints_the_token() {
        let hub = Hub { token: Some("hf_secret123".into()), ..Hub::offline_at("/tmp/x") };
        let shown = format!("{hub:?}");
        assert!(!shown.contains("hf_secret123") && shown.contains("<set>"), "{shown}");
    }

    /// `HF_TOKEN` wins; unset or empty, the token file of `huggingface-cli login` is read.
    #[test]
    fn the_token_file_is_read_when_hf_token_is_unset() {
        let home = tempfile::tempdir().unwrap();
        let cache = Cache::new(home.path().join("hub"));
        assert_eq!(token_from(None, &cache), None);
        std::fs::write(home.path().join("token"), "hf_from_file\n").unwrap();
        assert_eq!(token_from(None, &cache).as_deref(), Some("hf_from_file"));
        assert_eq!(token_from(Some(String::new()), &cache).as_deref(), Some("hf_from_file"));
        assert_eq!(token_from(Some("hf_env".into()), &cache).as_deref(), Some("hf_env"));
    }

    #[test]
    fn imported_files_resolve_offline_and_missing_ones_say_how_to_fetch() {
        let root = std::env::temp_dir().join(format!("hub-test-{}", std::process::id()));
        let src = root.join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("config.json"), "{}").unwrap();
        std::fs::write(src.join("sub/data.txt"), "x").unwrap();
        let hub = Hub::offline_at(root.join("cache"));
        let repo = HubRepo::dataset("org/name").at("refs/pr/3");
        hub.import_dir(&repo, &src, "0123abcd").unwrap();
        let p = hub.get(&repo, "config.json").unwrap();
        assert!(p.ends_with("datasets--org--name/snapshots/0123abcd/config.json"), "{p:?}");
        assert_eq!(std::fs::read_to_string(hub.get(&repo, "sub/data.txt").unwrap()).unwrap(), "x");
        // Another revision of the same repo is not there.
        let err = hub.get(&HubRepo::dataset("org/name"), "config.json").unwrap_err().to_string();
        assert!(err.contains("`config.json` of org/name (revision `main`)"), "{err}");
        assert!(err.contains("huggingface-cli download org/name --repo-type dataset config.json --revision main"), "{err}");
        let err = hub.get(&repo, "model.safetensors").unwrap_err().to_string();
        assert!(err.contains("model.safetensors") && err.contains("HF_HUB_OFFLINE"), "{err}");
        // Offline, the file list is the cached snapshot's, nested paths included.
        assert_eq!(hub.list_files(&repo).unwrap(), ["config.json", "sub/data.txt"]);
        let err = hub.list_files(&HubRepo::model("org/absent")).unwrap_err().to_string();
        assert!(
            err.contains("nothing of org/absent (revision `main`)") && err.contains("huggingface-cli download org/absent --revision main"),
            "{err}"
        );
        std::fs::remove_dir_all(&root).ok();
    }
}
