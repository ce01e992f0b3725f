//! Fair ordering of ingest jobs: at most [`FairQueue::per_key`] jobs of one
//! org run at once, and a waiting job of another org goes first. One org's
//! burst of slow or hostile files then never holds another org's document
//! behind it. Used by the local worker and the Lambda ingest worker alike.

use std::collections::{HashMap, VecDeque};

/// Jobs received but not yet finished, keyed by org.
#[derive(Debug)]
pub struct FairQueue<T> {
    per_key: usize,
    running: HashMap<String, usize>,
    waiting: VecDeque<(String, T)>,
}

impl<T> FairQueue<T> {
    /// A queue running at most `per_key` (at least 1) jobs per key.
    pub fn new(per_key: usize) -> FairQueue<T> {
        FairQueue {
            per_key: per_key.max(1),
            running: HashMap::new(),
            waiting: VecDeque::new(),
        }
    }

    /// Most jobs of one key running at once.
    pub fn per_key(&self) -> usize {
        self.per_key
    }

    /// Queues a job of `key`.
    pub fn push(&mut self, key: String, job: T) {
        self.waiting.push_back((key, job));
    }

    /// The oldest waiting job whose key has a free slot, now counted as
    /// running (call [`FairQueue::done`] with its key when it ends).
    pub fn start_next(&mut self) -> Option<(String, T)> {
        let at = self
            .waiting
            .iter()
            .position(|(key, _)| self.running.get(key).copied().unwrap_or(0) < self.per_key)?;
        let (key, job) = self.waiting.remove(at)?;
        *self.running.entry(key.clone()).or_default() += 1;
        Some((key, job))
    }

    /// A job of `key` ended.
    pub fn done(&mut self, key: &str) {
        if let Some(n) = self.running.get_mut(key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.running.remove(key);
            }
        }
    }

    /// Jobs waiting.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Jobs running.
    pub fn running(&self) -> usize {
        self.running.values().sum()
    }
}

/// The org an ingest message belongs to (its fairness key); a body that is
/// not a job gets its own key.
pub fn ingest_key(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Org {
        org_id: String,
    }
    serde_json::from_str::<Org>(body)
        .map(|o| o.org_id)
        .unwrap_or_else(|_| format!("?{}", body.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_orgs_job_overtakes_a_burst() {
        let mut q = FairQueue::new(1);
        for i in 0..5 {
            q.push("bad-org".into(), format!("bad-{i}"));
        }
        q.push("good-org".into(), "good".to_owned());
        assert_eq!(q.start_next(), Some(("bad-org".into(), "bad-0".into())));
        // bad-org has its one slot: the good org's job is next, not bad-1.
        assert_eq!(q.start_next(), Some(("good-org".into(), "good".into())));
        assert_eq!(q.start_next(), None);
        assert_eq!((q.running(), q.waiting()), (2, 4));
        q.done("bad-org");
        assert_eq!(q.start_next(), Some(("bad-org".into(), "bad-1".into())));
    }

    #[test]
    fn the_key_is_the_jobs_org() {
        let body = r#"{"org_id":"org_1","mode":"live","document_id":"d","generation":1}"#;
        assert_eq!(ingest_key(body), "org_1");
        assert_eq!(ingest_key("junk"), "?4");
    }
}
