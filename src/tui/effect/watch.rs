//! The workspace's followers: a bottle's state, read again each time its
//! backend tells of a change, and the work under review, read again and
//! again while the review view is open.

use std::path::PathBuf;

use tokio::sync::mpsc::UnboundedSender;

use crate::backend::SharedBackend;
use crate::tui::event::{AppEvent, WorkRead};

/// How often the review view reads the work again.
const WORK_POLL: std::time::Duration = std::time::Duration::from_secs(2);

pub(super) async fn watch_work(
    tx: UnboundedSender<AppEvent>,
    backend: Option<SharedBackend>,
    home: PathBuf,
    slug: String,
    closed: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use std::sync::atomic::Ordering;
    let saved = crate::work::Saved::at(&home, &slug);
    // First the saved copy (at once), then the bottle, again and again.
    // The highlighter's grammars load off the UI thread (once) meanwhile.
    let mut warm = Some(tokio::task::spawn_blocking(
        crate::tui::view::highlight::warm,
    ));
    let mut live = false;
    while !closed.load(Ordering::Relaxed) {
        let from = if live { backend.as_ref() } else { None };
        let read = read_work(from, &saved, &slug).await;
        if let Some(w) = warm.take() {
            let _ = w.await;
        }
        if tx.send(AppEvent::Work(read)).is_err() {
            return;
        }
        if live || backend.is_none() {
            tokio::time::sleep(WORK_POLL).await;
        }
        live = backend.is_some();
    }
}

/// A bottle's work for review: brought up to date from the bottle first
/// (given `backend`), then read from the saved copy; what could not be
/// read says why.
pub(super) async fn read_work(
    backend: Option<&SharedBackend>,
    saved: &crate::work::Saved,
    slug: &str,
) -> WorkRead {
    let mut read = WorkRead {
        slug: slug.to_string(),
        review: None,
        error: None,
        live: false,
    };
    if !saved.exists() {
        read.error = Some(format!(
            "{slug} has no saved work: it was started without a workspace, or by an older bb"
        ));
        return read;
    }
    if let Some(b) = backend {
        match crate::work::refresh(b.as_ref(), saved, slug).await {
            Ok(_) => read.live = true,
            Err(e) => read.error = Some(e.to_string()),
        }
    }
    let s = saved.clone();
    match tokio::task::spawn_blocking(move || crate::work::review::read(&s)).await {
        Ok(Ok(r)) => read.review = Some(r),
        Ok(Err(e)) => read.error = Some(e.to_string()),
        Err(e) => read.error = Some(e.to_string()),
    }
    read
}

/// A bottle's state is read again this often even with no change told
/// (a backend that cannot tell, or a change it missed).
const NEWS_FALLBACK: std::time::Duration = std::time::Duration::from_secs(30);
/// After a failed read or a lost watch, the next try waits this long.
const NEWS_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// Follow a bottle's state: read it all, then again each time its backend
/// tells of a change, until `closed` is set or the workspace is gone.
pub(super) async fn watch_bottle(
    tx: UnboundedSender<AppEvent>,
    backend: SharedBackend,
    slug: String,
    closed: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use futures_util::StreamExt;
    use std::sync::atomic::Ordering;
    let mut cursor = None;
    let mut changes = None;
    while !closed.load(Ordering::Relaxed) {
        if changes.is_none() {
            changes = backend.watch(&slug).await.ok();
        }
        match backend.news(&slug, cursor).await {
            Ok(news) => {
                let first = cursor.is_none();
                cursor = Some(news.cursor);
                let sent = tx.send(AppEvent::News {
                    slug: slug.clone(),
                    news,
                    first,
                });
                if sent.is_err() {
                    return;
                }
            }
            Err(_) => {
                changes = None;
                tokio::time::sleep(NEWS_RETRY).await;
                continue;
            }
        }
        match &mut changes {
            Some(stream) => match tokio::time::timeout(NEWS_FALLBACK, stream.next()).await {
                Ok(Some(())) | Err(_) => {}
                // The watch ended (the bundle or its engine went): again.
                Ok(None) => {
                    changes = None;
                    tokio::time::sleep(NEWS_RETRY).await;
                }
            },
            None => tokio::time::sleep(NEWS_RETRY).await,
        }
    }
}
