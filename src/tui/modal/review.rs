//! The review view (`C-b v`): the focused agent's work as one scrollable
//! page, read from its bottle every couple of seconds while open: its
//! commits, the files it changed (those that act on the host first, and
//! where a secret rule fires), then the diff, file by file. `t` takes it
//! as a branch, `a` applies it (asked first).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crossterm::event::KeyEvent;

use crate::supervise::{Proposal, Request};
use crate::tui::event::WorkRead;
use crate::tui::keymap::{mode_action, Confirm, Rev, CONFIRM_APPLY_KEYS, REVIEW_KEYS};
use crate::work::review::Review;

/// A row of the page, and how it is drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    Title(String),
    Heading(String),
    Text(String),
    /// A file that acts on the host, or a secret's place.
    Warning(String),
    /// A diff line of file `file` (an index into the files).
    Diff {
        file: usize,
        line: String,
    },
}

pub struct ReviewView {
    pub slug: String,
    pub agent: String,
    pub review: Option<Review>,
    /// Why the work could not be read (the last time).
    pub error: Option<String>,
    /// Read from the bottle since the view opened (else as last saved).
    pub live: bool,
    /// The held push shown (its proposal comes back on close), instead of
    /// the agent's work.
    pub push: Option<Box<Proposal>>,
    pub rows: Vec<Row>,
    /// Where each file's diff starts in `rows`.
    pub file_rows: Vec<usize>,
    pub scroll: usize,
    /// Asking whether to apply.
    pub confirming: bool,
    /// Set when the view closes: its reader stops.
    pub closed: Arc<AtomicBool>,
    /// Rows a page holds, as last drawn.
    pub page: std::cell::Cell<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewOutcome {
    Stay,
    Close,
    Take,
    Apply,
}

impl ReviewView {
    /// The view, on the work as last read (if it was) until it is read
    /// again.
    pub fn new(slug: String, agent: String, last: Option<Review>) -> ReviewView {
        let mut v = ReviewView {
            slug,
            agent,
            review: last,
            error: None,
            live: false,
            push: None,
            rows: Vec::new(),
            file_rows: Vec::new(),
            scroll: 0,
            confirming: false,
            closed: Arc::new(AtomicBool::new(false)),
            page: std::cell::Cell::new(20),
        };
        v.layout();
        v
    }

    /// A held push's commits and patch, for review before it is decided.
    pub fn of_push(proposal: Proposal) -> Option<ReviewView> {
        let Request::Push(push) = &proposal.request else {
            return None;
        };
        let commits = push
            .commits
            .iter()
            .rev()
            .map(|c| (c.sha.clone(), format!("{} ({})", c.subject, c.author)))
            .collect();
        let mut review = crate::work::review::from_patch(&push.patch, commits);
        review.uncommitted = false;
        let mut v = ReviewView::new(proposal.slug.clone(), proposal.agent.clone(), Some(review));
        if push.truncated {
            v.error = Some("the patch is cut (too large to show whole)".into());
        }
        v.push = Some(Box::new(proposal));
        v.layout();
        Some(v)
    }

    /// The work as read now (or why it could not be): the page is made
    /// again, at the same place.
    pub fn update(&mut self, read: WorkRead) {
        if let Some(r) = read.review {
            self.review = Some(r);
        }
        self.error = read.error;
        self.live |= read.live;
        self.layout();
    }

    fn layout(&mut self) {
        let mut rows = Vec::new();
        let mut file_rows = Vec::new();
        match (&self.error, &self.push) {
            (Some(e), Some(_)) => rows.push(Row::Warning(format!("! {e}"))),
            (Some(e), None) => rows.push(Row::Warning(format!(
                "! the work could not be read now: {e}"
            ))),
            _ => {}
        }
        let Some(r) = &self.review else {
            if rows.is_empty() {
                rows.push(Row::Text("reading the agent's work…".into()));
            }
            self.rows = rows;
            return;
        };
        let (added, removed) = r.files.iter().fold((0, 0), |(a, d), f| {
            (a + f.added.unwrap_or(0), d + f.removed.unwrap_or(0))
        });
        let what = match self.push.as_deref().map(|p| &p.request) {
            Some(Request::Push(p)) => format!("{}'s push to {}", self.agent, p.remote),
            _ => format!("{}'s work", self.agent),
        };
        rows.push(Row::Title(format!(
            "{what}: {} commit{}, {} file{} (+{added} −{removed}){}{}",
            r.commits.len(),
            if r.commits.len() == 1 { "" } else { "s" },
            r.files.len(),
            if r.files.len() == 1 { "" } else { "s" },
            if r.uncommitted {
                ", some not committed"
            } else {
                ""
            },
            if r.taken { ", taken" } else { "" },
        )));
        if r.files.is_empty() && r.commits.is_empty() {
            rows.push(Row::Text("no changes since launch".into()));
        }
        let flagged: Vec<_> = r.files.iter().filter(|f| f.flag.is_some()).collect();
        if !flagged.is_empty() {
            rows.push(Row::Heading(
                "Files that act on your machine (look twice):".into(),
            ));
            for f in flagged {
                rows.push(Row::Warning(format!(
                    "! {}  ({})",
                    f.path,
                    f.flag.unwrap_or_default()
                )));
            }
        }
        if !r.findings.is_empty() {
            rows.push(Row::Heading("Secret shapes in what it added:".into()));
            for f in &r.findings {
                rows.push(Row::Warning(format!("! {}:{}  {}", f.path, f.line, f.rule)));
            }
        }
        if !r.commits.is_empty() {
            rows.push(Row::Heading("Commits:".into()));
            for (sha, subject) in &r.commits {
                rows.push(Row::Text(format!(
                    "  {} {subject}",
                    &sha[..sha.len().min(10)]
                )));
            }
        }
        if !r.files.is_empty() {
            rows.push(Row::Heading("Files:".into()));
            for f in &r.files {
                let size = match (f.added, f.removed) {
                    (Some(a), Some(d)) => format!("+{a} −{d}"),
                    _ => "binary".into(),
                };
                rows.push(Row::Text(format!("  {:<8} {}", size, f.path)));
            }
        }
        for (i, (_, lines)) in r.patches.iter().enumerate() {
            rows.push(Row::Text(String::new()));
            file_rows.push(rows.len());
            rows.extend(lines.iter().map(|l| Row::Diff {
                file: i,
                line: l.clone(),
            }));
        }
        self.rows = rows;
        self.file_rows = file_rows;
        self.scroll = self.scroll.min(self.rows.len().saturating_sub(1));
    }

    pub fn handle(&mut self, key: &KeyEvent) -> ReviewOutcome {
        if self.confirming {
            match mode_action(CONFIRM_APPLY_KEYS, key) {
                Some(Confirm::Yes) => {
                    self.confirming = false;
                    return ReviewOutcome::Apply;
                }
                Some(Confirm::No) => self.confirming = false,
                None => {}
            }
            return ReviewOutcome::Stay;
        }
        let last = self.rows.len().saturating_sub(1);
        let page = self.page.get().max(1);
        match mode_action(REVIEW_KEYS, key) {
            Some(Rev::LineUp) => self.scroll = self.scroll.saturating_sub(1),
            Some(Rev::LineDown) => self.scroll = (self.scroll + 1).min(last),
            Some(Rev::PageUp) => self.scroll = self.scroll.saturating_sub(page),
            Some(Rev::PageDown) => self.scroll = (self.scroll + page).min(last),
            Some(Rev::Top) => self.scroll = 0,
            Some(Rev::Bottom) => self.scroll = last.saturating_sub(page.saturating_sub(1)),
            Some(Rev::NextFile) => {
                if let Some(&at) = self.file_rows.iter().find(|&&r| r > self.scroll) {
                    self.scroll = at;
                }
            }
            Some(Rev::PrevFile) => {
                if let Some(&at) = self.file_rows.iter().rev().find(|&&r| r < self.scroll) {
                    self.scroll = at;
                }
            }
            Some(Rev::Take) => return ReviewOutcome::Take,
            Some(Rev::Apply) => self.confirming = true,
            Some(Rev::Close) => return ReviewOutcome::Close,
            None => {}
        }
        ReviewOutcome::Stay
    }

    /// The path of file `i`, for highlighting its lines.
    pub fn path(&self, i: usize) -> Option<&str> {
        self.review
            .as_ref()
            .and_then(|r| r.patches.get(i))
            .map(|(p, _)| p.as_str())
    }
}
