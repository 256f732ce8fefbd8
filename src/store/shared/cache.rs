//! The cache of one node and its part in the lease protocol: the entries, the lease, the
//! subscriber and renewer tasks, and revocation. The protocol is described in the parent
//! module's docs ([`crate::store::shared`]).

use std::collections::HashMap as StdHashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use hashbrown::HashMap;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::domain::{Digest32, Session, User};
use crate::store::error::StoreError;
use crate::store::shared::bus::{Bus, Message};
use crate::store::traits::JoinedUser;

/// How long a lease lasts, by the store's clock.
pub const LEASE: Duration = Duration::from_millis(2000);

/// The longest any entry is served: a bound on what a revoker that died between its write and
/// its publish leaves behind.
pub const ENTRY_MAX_AGE: Duration = Duration::from_secs(5);

/// Most sessions (and, apart, users) one cache holds.
pub const CAPACITY: usize = 100_000;

/// The part of a lease a holder counts as its own, so clocks running up to 5% apart never let
/// it outlive the lease the store granted.
const LOCAL_SHARE: f64 = 0.85;

/// How much longer than a lease's time left a revoker waits before reading the leases again.
const REVOKER_MARGIN: f64 = 1.15;

/// A cached session with the user read with it.
struct SessionEntry {
    session: Arc<Session>,
    user: JoinedUser,
    at: Instant,
}

/// A cached user.
struct UserEntry {
    user: Arc<User>,
    at: Instant,
}

#[derive(Default)]
struct Entries {
    sessions: HashMap<Digest32, SessionEntry>,
    users: HashMap<String, UserEntry>,
    /// Moves on with every invalidation and every emptying; see [`SharedCache::ticket`].
    generation: u64,
}

impl Entries {
    fn drop_keys(&mut self, sessions: &[Digest32], users: &[String]) {
        for d in sessions {
            self.sessions.remove(d);
        }
        for id in users {
            self.users.remove(id);
            self.sessions.retain(|_, e| e.session.user_id != *id);
        }
        self.generation += 1;
    }

    fn clear(&mut self) {
        self.sessions.clear();
        self.users.clear();
        self.generation += 1;
    }
}

/// What a read that missed must show to fill the cache: the generation it started under.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(Option<u64>);

/// The cache of one node and its place on the bus. See the module docs for the protocol.
pub struct SharedCache {
    me: String,
    bus: Arc<dyn Bus>,
    entries: RwLock<Entries>,
    /// When the local lease ends, in milliseconds after `base`; 0: no lease.
    valid_until: AtomicU64,
    base: Instant,
    /// Whether the subscription is connected, and how many times it has connected.
    subscribed: watch::Sender<(bool, u64)>,
    /// Acknowledgements expected by revocations in progress, by message id.
    acks: Mutex<StdHashMap<String, mpsc::UnboundedSender<String>>>,
    /// Pings of the renewer waiting to come back, by nonce.
    pings: Mutex<StdHashMap<String, oneshot::Sender<()>>>,
    /// The subscriber and (when serving) renewer tasks.
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Whether [`SharedCache::serve`] may start serving (`SESSION_CACHE=on`).
    may_serve: bool,
    serving: AtomicBool,
}

fn nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SharedCache {
    /// A node on `bus`. It subscribes at once (revocations need acknowledgements), but serves
    /// nothing from its cache until [`SharedCache::serve`] is called, and never unless
    /// `may_serve`: a node that may not serve still revokes through the bus, so the nodes that
    /// do serve hear of its writes.
    pub fn join(bus: Arc<dyn Bus>, may_serve: bool) -> Arc<Self> {
        let cache = Arc::new(Self {
            me: nonce(),
            bus,
            entries: RwLock::new(Entries::default()),
            valid_until: AtomicU64::new(0),
            base: Instant::now(),
            subscribed: watch::Sender::new((false, 0)),
            acks: Mutex::new(StdHashMap::new()),
            pings: Mutex::new(StdHashMap::new()),
            tasks: Mutex::new(Vec::new()),
            may_serve,
            serving: AtomicBool::new(false),
        });
        let subscriber = tokio::spawn(subscribe_forever(Arc::downgrade(&cache)));
        lock(&cache.tasks).push(subscriber);
        cache
    }

    /// Starts holding a lease and answering from the cache (servers only, and only if the
    /// node may serve).
    pub fn serve(self: &Arc<Self>) {
        if !self.may_serve || self.serving.swap(true, Ordering::SeqCst) {
            return;
        }
        let renewer = tokio::spawn(renew_forever(Arc::downgrade(self)));
        lock(&self.tasks).push(renewer);
    }

    /// Stops: releases the lease (so revokers need not wait for it) and ends the tasks.
    pub async fn leave(&self) {
        self.valid_until.store(0, Ordering::SeqCst);
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
        if self.serving.load(Ordering::SeqCst) {
            let holder = self.holder(self.subscribed.borrow().1);
            let release = self.bus.release(&holder);
            if let Ok(Err(e)) = tokio::time::timeout(LEASE, release).await {
                tracing::warn!(error = %e, "could not release the cache lease");
            }
        }
    }

    /// The name of this node's lease while its subscription is in its `epoch`-th connection.
    /// A new connection takes a new lease: the old one is left to run out, so a revoker waiting
    /// for an acknowledgement the old connection never received waits no longer than that.
    fn holder(&self, epoch: u64) -> String {
        format!("{}.{epoch}", self.me)
    }

    /// Whether the lease `holder` is one of this node's.
    fn is_mine(&self, holder: &str) -> bool {
        holder.split_once('.').map(|(node, _)| node) == Some(self.me.as_str())
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether this node may answer from its cache now.
    fn holds(&self) -> bool {
        self.now_ms() < self.valid_until.load(Ordering::Acquire)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Entries> {
        self.entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Entries> {
        self.entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cached session with this digest and its user, if this node holds its lease.
    pub fn session(&self, digest: &Digest32) -> Option<(Arc<Session>, JoinedUser)> {
        if !self.holds() {
            return None;
        }
        let entries = self.read();
        let e = entries.sessions.get(digest)?;
        (e.at.elapsed() < ENTRY_MAX_AGE).then(|| (e.session.clone(), e.user.clone()))
    }

    /// The cached user with this id, if this node holds its lease.
    pub fn user(&self, id: &str) -> Option<Arc<User>> {
        if !self.holds() {
            return None;
        }
        let entries = self.read();
        let e = entries.users.get(id)?;
        (e.at.elapsed() < ENTRY_MAX_AGE).then(|| e.user.clone())
    }

    /// Taken before a read that missed; see [`SharedCache::fill_session`].
    pub fn ticket(&self) -> Ticket {
        if !self.serving.load(Ordering::Relaxed) || !self.subscribed.borrow().0 {
            return Ticket(None);
        }
        Ticket(Some(self.read().generation))
    }

    /// Caches a session (and the user read with it) read under `ticket`, unless anything was
    /// invalidated since or the subscription is down.
    pub fn fill_session(&self, ticket: Ticket, session: Arc<Session>, user: JoinedUser) {
        self.fill(ticket, |entries, at| {
            if entries.sessions.len() < CAPACITY {
                entries
                    .sessions
                    .insert(session.digest, SessionEntry { session, user, at });
            }
        });
    }

    /// Caches a user read under `ticket`, as [`SharedCache::fill_session`] does.
    pub fn fill_user(&self, ticket: Ticket, user: Arc<User>) {
        self.fill(ticket, |entries, at| {
            if entries.users.len() < CAPACITY {
                entries
                    .users
                    .insert(user.id.clone(), UserEntry { user, at });
            }
        });
    }

    /// Runs `add` on the entries (with the time of the fill) if `ticket` still holds: nothing
    /// was invalidated or emptied since it was taken, and the subscription is connected.
    fn fill(&self, ticket: Ticket, add: impl FnOnce(&mut Entries, Instant)) {
        let Ticket(Some(generation)) = ticket else {
            return;
        };
        let mut entries = self.write();
        if entries.generation == generation && self.subscribed.borrow().0 {
            add(&mut entries, Instant::now());
        }
    }

    /// This node recorded a use of a session: its cached copy follows.
    pub fn touched(&self, digest: &Digest32, now: i64) {
        let mut entries = self.write();
        if let Some(e) = entries.sessions.get_mut(digest) {
            let s = Arc::make_mut(&mut e.session);
            s.last_seen_at = s.last_seen_at.max(now);
        }
    }

    /// Empties the cache.
    fn clear(&self) {
        self.write().clear();
    }

    /// After a write that ended `sessions`, or changed or deleted `users` (and so ended or
    /// changed their sessions): drops them here and waits until no other node can serve them
    /// (see the module docs).
    pub async fn revoke(&self, sessions: &[Digest32], users: &[String]) -> Result<(), StoreError> {
        self.write().drop_keys(sessions, users);
        let id = nonce();
        let (tx, mut rx) = mpsc::unbounded_channel();
        lock(&self.acks).insert(id.clone(), tx);
        let _forget = Forget(&self.acks, &id);
        self.await_subscription().await;
        let message = Message::Invalidate {
            from: self.me.clone(),
            id: id.clone(),
            sessions: sessions.iter().map(hex::encode).collect(),
            users: users.to_vec(),
        };
        let live = self.bus.publish_and_live(&message.encode()).await?;
        let give_up = tokio::time::Instant::now() + 3 * LEASE;
        let mut waiting: StdHashMap<String, tokio::time::Instant> = StdHashMap::new();
        self.expect(&mut waiting, live, None);
        while let Some(next) = waiting.values().min().copied() {
            if next > give_up {
                return Err(unacknowledged(waiting.len()));
            }
            tokio::select! {
                Some(from) = rx.recv() => { waiting.remove(&from); }
                () = tokio::time::sleep_until(next) => {
                    let live = self.bus.live().await?;
                    self.expect(&mut waiting, live, Some(tokio::time::Instant::now()));
                }
            }
        }
        Ok(())
    }

    /// Sets when each live holder's lease runs out (by this node's clock). With `due`, only
    /// holders already waited on whose time has come are looked at again, and those no longer
    /// live are dropped.
    fn expect(
        &self,
        waiting: &mut StdHashMap<String, tokio::time::Instant>,
        live: Vec<(String, u64)>,
        due: Option<tokio::time::Instant>,
    ) {
        let now = tokio::time::Instant::now();
        let live: StdHashMap<String, u64> = live.into_iter().collect();
        let wait = |left: u64| {
            // Lease times are milliseconds of at most a few seconds: exact in an f64.
            #[allow(clippy::cast_precision_loss)]
            let ms = left as f64 * REVOKER_MARGIN;
            now + Duration::from_secs_f64(ms / 1000.0) + Duration::from_millis(2)
        };
        match due {
            None => {
                for (holder, left) in live {
                    if !self.is_mine(&holder) {
                        waiting.insert(holder, wait(left));
                    }
                }
            }
            Some(due) => waiting.retain(|holder, until| {
                if *until > due {
                    return true;
                }
                match live.get(holder) {
                    Some(&left) => {
                        *until = wait(left);
                        true
                    }
                    None => false,
                }
            }),
        }
    }

    /// Waits (briefly) for the subscription, so acknowledgements can arrive. Without it, a
    /// revocation still completes, by waiting for the leases.
    async fn await_subscription(&self) {
        let mut rx = self.subscribed.subscribe();
        let connected = rx.wait_for(|(up, _)| *up);
        let _ = tokio::time::timeout(LEASE / 2, connected).await;
    }

    /// Applies one message from the channel.
    fn receive(&self, raw: &str) {
        let Some(message) = Message::decode(raw) else {
            tracing::warn!("ignoring a malformed message on the cache channel");
            return;
        };
        match message {
            Message::Invalidate {
                from,
                id,
                sessions,
                users,
            } => {
                if from == self.me {
                    return;
                }
                let digests: Vec<Digest32> = sessions
                    .iter()
                    .filter_map(|h| {
                        let mut d = [0u8; 32];
                        hex::decode_to_slice(h, &mut d).ok().map(|()| d)
                    })
                    .collect();
                if digests.len() == sessions.len() {
                    self.write().drop_keys(&digests, &users);
                } else {
                    self.clear();
                }
                let ack = Message::Ack {
                    to: from,
                    id,
                    from: self.holder(self.subscribed.borrow().1),
                };
                let bus = self.bus.clone();
                tokio::spawn(async move {
                    if let Err(e) = bus.publish(&ack.encode()).await {
                        tracing::warn!(error = %e, "could not acknowledge a cache invalidation");
                    }
                });
            }
            Message::Ack { to, id, from } => {
                if to == self.me
                    && let Some(tx) = lock(&self.acks).get(&id)
                {
                    let _ = tx.send(from);
                }
            }
            Message::Ping { from, id } => {
                if from == self.me
                    && let Some(tx) = lock(&self.pings).remove(&id)
                {
                    let _ = tx.send(());
                }
            }
        }
    }

    /// One renewal: ping, wait for it, extend the lease. See the module docs.
    async fn renew(&self) -> Result<(), StoreError> {
        let (up, epoch) = *self.subscribed.borrow();
        if !up {
            return Ok(());
        }
        let t0 = self.now_ms();
        let id = nonce();
        let (tx, rx) = oneshot::channel();
        lock(&self.pings).insert(id.clone(), tx);
        let ping = Message::Ping {
            from: self.me.clone(),
            id: id.clone(),
        };
        let echoed = async {
            self.bus.publish(&ping.encode()).await?;
            rx.await
                .map_err(|_| StoreError::unavailable("the cache channel closed"))
        };
        let outcome = tokio::time::timeout(LEASE / 4, echoed).await;
        lock(&self.pings).remove(&id);
        match outcome {
            Ok(r) => r?,
            Err(_) => return Err(StoreError::unavailable("the cache ping did not come back")),
        }
        let holder = self.holder(epoch);
        let live = tokio::time::timeout(LEASE / 4, self.bus.renew(&holder, LEASE))
            .await
            .map_err(|_| StoreError::unavailable("renewing the cache lease timed out"))??;
        if *self.subscribed.borrow() != (true, epoch) {
            return Ok(());
        }
        if !live {
            self.clear();
        }
        let lease = u64::try_from(LEASE.as_millis()).unwrap_or(u64::MAX);
        // A lease of a few seconds in milliseconds: exact in an f64.
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let share = (lease as f64 * LOCAL_SHARE) as u64;
        self.valid_until.fetch_max(t0 + share, Ordering::AcqRel);
        Ok(())
    }
}

fn unacknowledged(n: usize) -> StoreError {
    StoreError::unavailable(format!(
        "{n} instance(s) neither acknowledged a cache invalidation nor lost their lease"
    ))
}

/// Removes a revocation's entry from the acknowledgements expected, however it ends.
struct Forget<'a>(
    &'a Mutex<StdHashMap<String, mpsc::UnboundedSender<String>>>,
    &'a str,
);

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        lock(self.0).remove(self.1);
    }
}

/// Keeps the node subscribed: after every drop, empties the cache, stops serving from it and
/// subscribes again (after a short pause).
async fn subscribe_forever(cache: std::sync::Weak<SharedCache>) {
    let mut pause = Duration::from_millis(50);
    loop {
        let Some(node) = cache.upgrade() else { return };
        let bus = node.bus.clone();
        drop(node);
        match bus.subscribe().await {
            Ok(mut sub) => {
                pause = Duration::from_millis(50);
                let Some(node) = cache.upgrade() else { return };
                node.clear();
                node.subscribed.send_modify(|(up, epoch)| {
                    *up = true;
                    *epoch += 1;
                });
                drop(node);
                while let Some(raw) = sub.next().await {
                    let Some(node) = cache.upgrade() else { return };
                    node.receive(&raw);
                }
                let Some(node) = cache.upgrade() else { return };
                node.valid_until.store(0, Ordering::SeqCst);
                node.subscribed.send_modify(|(up, _)| *up = false);
                node.clear();
                tracing::warn!(
                    "the cache channel dropped: serving from the store until it is back"
                );
            }
            Err(e) => tracing::debug!(error = %e, "cannot subscribe to the cache channel"),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// Renews the lease every quarter of it while the node lives.
async fn renew_forever(cache: std::sync::Weak<SharedCache>) {
    let mut tick = tokio::time::interval(LEASE / 4);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(node) = cache.upgrade() else { return };
        if let Err(e) = node.renew().await {
            tracing::debug!(error = %e, "cache lease not renewed");
        }
    }
}
