//! Every connection and tunnel holds one of `max_connections` slots. When
//! they are all taken, a new connection sheds the one idle the longest (a
//! keep-alive connection between requests, a slowloris that never finished
//! its headers, a tunnel nothing moves through) rather than be refused, so
//! idle and slow clients cannot lock a healthy one out.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// A connection idle for less than this is not shed: its client may be
/// about to use it.
const MIN_IDLE: Duration = Duration::from_millis(50);
/// How often a connection waiting for a slot sheds another.
const RESHED: Duration = Duration::from_millis(10);

struct Entry {
    /// Since when nothing has happened on it, as nanoseconds after the
    /// table's epoch plus one; 0 while it is serving. An atomic, so marking
    /// a connection busy or idle (twice a request) takes no lock.
    idle_since: AtomicU64,
    shed: watch::Sender<bool>,
}

const BUSY: u64 = 0;

pub struct Slots {
    permits: Arc<Semaphore>,
    table: Mutex<HashMap<u64, Arc<Entry>>>,
    next: AtomicU64,
    epoch: Instant,
}

/// A connection's place; given back when dropped.
pub struct Slot {
    id: u64,
    entry: Arc<Entry>,
    slots: Arc<Slots>,
    shed: watch::Receiver<bool>,
    /// Requests answered on it.
    served: AtomicU64,
    _permit: OwnedSemaphorePermit,
}

impl Slots {
    pub fn new(max: usize) -> Arc<Slots> {
        Arc::new(Slots {
            permits: Arc::new(Semaphore::new(max)),
            table: Mutex::new(HashMap::new()),
            next: AtomicU64::new(0),
            epoch: Instant::now(),
        })
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Entry>>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `at` as stored in an entry (never BUSY).
    fn stamp(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_nanos() as u64 + 1
    }

    fn slot(self: &Arc<Self>, permit: OwnedSemaphorePermit) -> Slot {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, shed) = watch::channel(false);
        let entry = Arc::new(Entry {
            idle_since: AtomicU64::new(self.stamp(Instant::now())),
            shed: tx,
        });
        self.table().insert(id, entry.clone());
        Slot {
            id,
            entry,
            slots: self.clone(),
            shed,
            served: AtomicU64::new(0),
            _permit: permit,
        }
    }

    /// A slot if one is free now.
    pub fn try_take(self: &Arc<Self>) -> Option<Slot> {
        let permit = self.permits.clone().try_acquire_owned().ok()?;
        Some(self.slot(permit))
    }

    /// A slot, shedding the idlest connection when all are taken; None if
    /// none frees within `wait` (every connection is busy).
    pub async fn take(self: &Arc<Self>, wait: Duration) -> Option<Slot> {
        if let Some(s) = self.try_take() {
            return Some(s);
        }
        // Shed again while waiting: a connection too fresh to shed a moment
        // ago ages, and other waiters take the slots freed before.
        let deadline = tokio::time::Instant::now() + wait;
        let acquire = self.permits.clone().acquire_owned();
        tokio::pin!(acquire);
        loop {
            self.shed_idlest();
            tokio::select! {
                permit = &mut acquire => return Some(self.slot(permit.ok()?)),
                _ = tokio::time::sleep(RESHED) => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
        }
    }

    /// Ask the connection idle the longest to close. False when none is
    /// idle long enough.
    pub fn shed_idlest(&self) -> bool {
        let newest = self
            .stamp(Instant::now())
            .saturating_sub(MIN_IDLE.as_nanos() as u64);
        let table = self.table();
        loop {
            let victim = table
                .values()
                .map(|e| (e, e.idle_since.load(Ordering::Relaxed)))
                .filter(|(_, since)| *since != BUSY && *since <= newest)
                .min_by_key(|(_, since)| *since);
            let Some((e, since)) = victim else {
                return false;
            };
            // Not chosen twice while it closes; if it just got busy (or
            // idle again), look again.
            if e.idle_since
                .compare_exchange(since, BUSY, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                e.shed.send_replace(true);
                return true;
            }
        }
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.table().len()
    }
}

impl Slot {
    /// A request is being served.
    pub fn busy(&self) {
        self.entry.idle_since.store(BUSY, Ordering::Relaxed);
    }

    /// An answer is done (or, on a tunnel, bytes just moved).
    pub fn idle(&self) {
        self.served.fetch_add(1, Ordering::Relaxed);
        self.entry
            .idle_since
            .store(self.slots.stamp(Instant::now()), Ordering::Relaxed);
    }

    /// Whether it ever answered a request: one that never did is slow or
    /// silent, and is told 408 when shed.
    pub fn served(&self) -> bool {
        self.served.load(Ordering::Relaxed) > 0
    }

    /// Every holder of it (the connection, then its tunnel) hears when
    /// this connection is shed.
    pub fn shed_signal(&self) -> Shed {
        Shed(self.shed.clone())
    }
}

/// Waits until a connection is shed.
pub struct Shed(watch::Receiver<bool>);

impl Shed {
    pub async fn notified(mut self) {
        // The sender goes with the slot: then nothing is left to shed.
        if self.0.wait_for(|shed| *shed).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.table().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_idlest_connection_is_shed_for_a_new_one() {
        let slots = Slots::new(2);
        let old = slots.try_take().unwrap();
        tokio::time::sleep(MIN_IDLE).await;
        let busy = slots.try_take().unwrap();
        busy.busy();
        assert!(slots.try_take().is_none());
        let shed = old.shed_signal();
        let waiting = tokio::spawn({
            let slots = slots.clone();
            async move { slots.take(Duration::from_secs(5)).await.is_some() }
        });
        shed.notified().await;
        drop(old);
        assert!(
            waiting.await.unwrap(),
            "the new connection got the shed one's slot"
        );
        // Busy connections are never shed: with none idle, no slot.
        assert!(!slots.shed_idlest());
        assert_eq!(slots.open(), 1);
    }
}
