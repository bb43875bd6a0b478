//! The event stream: every caller follows the log from a position, sees only the events they
//! may see (`domain::visibility::event_visible`), each described publicly (`PublicEvent`: no
//! value, secret or plain, ever), first caught up from the log and then live.
//!
//! One feed task follows the log, describes each event once the read model has it and
//! broadcasts it into a ring of [`EventStreamSettings::live_backlog`] events. Each stream is
//! a task of its own that reads the ring into a queue of
//! [`EventStreamSettings::client_buffer`] events the HTTP answer drains, plus one slot kept
//! for the overflow notice. Neither the writer nor the feed ever waits for a client: live
//! events are queued without waiting, and a client whose queue is full is ended with a
//! [`StreamItem::Overflow`] naming the position to resume after, its place freed at once.
//! Catching up reads the log, not the ring, at the client's pace but never longer than
//! [`EventStreamSettings::client_stall`] per event; a stream that falls behind the ring
//! itself (a slow follower, a burst) catches up from the log and goes on. A stream far
//! behind holds no more memory than one live.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, watch, OwnedSemaphorePermit, Semaphore};

use crate::domain::ids::{AuthenticationId, TokenId, WorkspaceId};
use crate::domain::principals::{Principal, PrincipalError};
use crate::domain::token_scope::{check_token_use, TokenUse};
use crate::domain::visibility::event_visible;
use crate::ledger::{EventStore, Position, Subscription};
use crate::projections::{LedgerModel, PublicEvent};
use crate::time::Timestamp;

use super::{App, AppError};

/// Events read from the log at a time while catching up.
const CATCH_UP_CHUNK: u64 = 256;
/// Events the feed describes under one read lock of the model.
const FEED_BATCH: usize = 512;

/// How the event stream runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventStreamSettings {
    /// How often an idle stream sends a heartbeat comment.
    pub heartbeat: Duration,
    /// Events queued for one client before it counts as slow.
    pub client_buffer: usize,
    /// Live events kept for streams that have not taken them yet; a stream further behind
    /// is ended with an overflow notice.
    pub live_backlog: usize,
    /// Streams open at once on this server; more are refused with 503.
    pub max_streams: usize,
    /// How long a stream catching up from the log waits for its client to take an event
    /// before ending it with an overflow notice.
    pub client_stall: Duration,
}

impl Default for EventStreamSettings {
    fn default() -> Self {
        EventStreamSettings {
            heartbeat: Duration::from_secs(15),
            client_buffer: 256,
            live_backlog: 4096,
            max_streams: 256,
            client_stall: Duration::from_secs(30),
        }
    }
}

/// Where the position a stream resumes after was given (for the refusal's field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeSource {
    /// The `from` query parameter.
    From,
    /// The `Last-Event-ID` header of a reconnecting client.
    LastEventId,
}

/// Why an event stream was not opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventStreamError {
    /// As many streams are open as the server allows.
    #[error("events: {limit} event streams are open, the most this server allows; retry later")]
    TooManyStreams {
        /// The limit.
        limit: usize,
    },
    /// The feed stopped (reading the log failed): nothing can follow the log until the
    /// server restarts.
    #[error("events: the event feed has stopped; no stream can follow the log until the server restarts")]
    FeedStopped,
    /// The position to resume after is past the end of the log: no stream gave it out.
    #[error("{}: position {position} is past the end of the log ({head})", source_field(*.given_in))]
    ResumeAhead {
        /// Where it was given.
        given_in: ResumeSource,
        /// The position asked for.
        position: u64,
        /// The end of the log.
        head: u64,
    },
}

fn source_field(source: ResumeSource) -> &'static str {
    match source {
        ResumeSource::From => "from",
        ResumeSource::LastEventId => "last-event-id",
    }
}

impl EventStreamError {
    /// The request field the refusal is about.
    pub fn field(&self) -> Option<String> {
        Some(
            match self {
                EventStreamError::TooManyStreams { .. } | EventStreamError::FeedStopped => "events",
                EventStreamError::ResumeAhead { given_in, .. } => source_field(*given_in),
            }
            .to_owned(),
        )
    }
}

/// Which events a stream carries (on top of what its caller may see).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only these event types (none: every type).
    pub types: Vec<String>,
    /// Only events touching this workspace.
    pub workspace: Option<WorkspaceId>,
    /// Only events about this authentication.
    pub authentication: Option<AuthenticationId>,
}

impl EventFilter {
    /// Whether an event passes the filter.
    pub fn matches(&self, event: &PublicEvent) -> bool {
        (self.types.is_empty() || self.types.contains(&event.event_type))
            && self.workspace.is_none_or(|w| event.workspace == Some(w))
            && self
                .authentication
                .is_none_or(|a| event.authentication == Some(a))
    }
}

/// An event as streams hand it out: its public description and that description's JSON,
/// made once by the feed for every stream that carries it.
#[derive(Debug)]
pub struct StreamedEvent {
    event: PublicEvent,
    json: Box<str>,
}

impl StreamedEvent {
    pub(crate) fn new(event: PublicEvent) -> Arc<StreamedEvent> {
        let json = match serde_json::to_string(&event) {
            Ok(json) => json,
            Err(e) => {
                // Only a bug could get here (every field serializes); the client still gets
                // the id and type.
                tracing::error!(error = %e, position = event.position, "an event did not serialize");
                "{}".to_owned()
            }
        };
        Arc::new(StreamedEvent {
            event,
            json: json.into_boxed_str(),
        })
    }

    /// The description as JSON text.
    pub fn json(&self) -> &str {
        &self.json
    }
}

impl std::ops::Deref for StreamedEvent {
    type Target = PublicEvent;
    fn deref(&self) -> &PublicEvent {
        &self.event
    }
}

/// What a stream hands its client.
#[derive(Debug, Clone)]
pub enum StreamItem {
    /// The next event the client may see.
    Event(Arc<StreamedEvent>),
    /// The client fell too far behind and the stream ends: resume after this position.
    Overflow {
        /// Every event the client may see up to here was delivered.
        resume_after: u64,
    },
}

/// An open event stream: the queue its task fills.
pub struct EventStream {
    /// The items, in log order; ends when the stream ends.
    pub items: mpsc::Receiver<StreamItem>,
}

/// The broadcast of described events, and the count of open streams.
pub(crate) struct EventFeed {
    /// Also what webhook deliveries wake on.
    pub(crate) live: broadcast::Sender<Arc<StreamedEvent>>,
    streams: Arc<Semaphore>,
    settings: EventStreamSettings,
    closing: watch::Sender<bool>,
    /// Streams ended for falling behind, since start (a metric).
    overflowed: std::sync::atomic::AtomicU64,
}

impl EventFeed {
    pub(crate) fn new(settings: EventStreamSettings) -> EventFeed {
        EventFeed {
            live: broadcast::channel(settings.live_backlog.max(1)).0,
            streams: Arc::new(Semaphore::new(settings.max_streams)),
            settings,
            closing: watch::channel(false).0,
            overflowed: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl App {
    /// The settings of the event stream.
    pub fn event_stream_settings(&self) -> EventStreamSettings {
        self.events.settings
    }

    /// Streams ended for falling behind since start.
    pub fn event_streams_overflowed(&self) -> u64 {
        self.events
            .overflowed
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Streams open now.
    pub fn event_streams_open(&self) -> usize {
        self.events.settings.max_streams - self.events.streams.available_permits()
    }

    /// Ends every open stream (the server is stopping, or the feed stopped); no stream
    /// opens after it.
    pub fn close_event_streams(&self) {
        self.events.closing.send_replace(true);
    }

    /// Whether the feed has stopped (streams are ended and no new one follows anything).
    pub fn event_feed_stopped(&self) -> bool {
        *self.events.closing.borrow()
    }

    /// Opens a stream of the events `principal` may see that pass `filter`, after position
    /// `after` (`None`: from now on), for as long as `credential` (the API token the caller
    /// opened it with) stays valid. Runners resolve and follow nothing.
    pub fn open_event_stream(
        self: &Arc<Self>,
        principal: Principal,
        credential: TokenId,
        filter: EventFilter,
        after: Option<(u64, ResumeSource)>,
    ) -> Result<EventStream, AppError> {
        if matches!(principal, Principal::Runner { .. }) {
            return Err(PrincipalError::RunnersOnlyResolve.into());
        }
        if self.event_feed_stopped() {
            return Err(EventStreamError::FeedStopped.into());
        }
        let head = self.store().head().position;
        let after = match after {
            Some((position, source)) if position > head => {
                return Err(EventStreamError::ResumeAhead {
                    given_in: source,
                    position,
                    head,
                }
                .into())
            }
            Some((position, _)) => position,
            None => head,
        };
        let permit = self
            .events
            .streams
            .clone()
            .try_acquire_owned()
            .map_err(|_| EventStreamError::TooManyStreams {
                limit: self.events.settings.max_streams,
            })?;
        // One slot more than the client's buffer, held for the overflow notice so it
        // always fits without waiting.
        let (queue, items) = mpsc::channel(self.events.settings.client_buffer.max(1) + 1);
        let notice =
            queue
                .clone()
                .try_reserve_owned()
                .map_err(|_| EventStreamError::TooManyStreams {
                    limit: self.events.settings.max_streams,
                })?;
        let follower = Follower {
            app: self.clone(),
            principal,
            credential,
            filter,
            after,
            queue,
            notice: Some(notice),
            _permit: permit,
        };
        tokio::spawn(follower.run());
        Ok(EventStream { items })
    }
}

/// Why a stream's task ended early.
enum Ended {
    /// The client went away (its queue was dropped).
    ClientGone,
    /// The client read too slowly and was told where to resume.
    Overflowed,
    /// The stream's user was deactivated: it sees nothing more.
    CallerGone,
    /// Reading the log or the read model failed.
    Failed(AppError),
}

impl<E: Into<AppError>> From<E> for Ended {
    fn from(e: E) -> Ended {
        Ended::Failed(e.into())
    }
}

/// One stream's task: catches up from the log, then follows the live feed.
struct Follower {
    app: Arc<App>,
    principal: Principal,
    /// The token the stream was opened with: revoked or expired, the stream ends.
    credential: TokenId,
    filter: EventFilter,
    /// Every event up to here has been looked at (and queued if the client may see it).
    after: u64,
    queue: mpsc::Sender<StreamItem>,
    /// The queue's slot kept for the overflow notice.
    notice: Option<mpsc::OwnedPermit<StreamItem>>,
    _permit: OwnedSemaphorePermit,
}

/// How an event is queued for the client.
#[derive(Clone, Copy)]
enum Pace {
    /// Live: never wait; a full queue ends the stream.
    Live,
    /// From the log: wait for the client, at most `client_stall`.
    CatchUp,
}

/// Live events taken from the ring at a time (decided under one read lock).
const LIVE_BATCH: usize = 64;

impl Follower {
    async fn run(mut self) {
        match self.follow().await {
            Ok(()) | Err(Ended::ClientGone) | Err(Ended::Overflowed) | Err(Ended::CallerGone) => {}
            Err(Ended::Failed(e)) => tracing::warn!(error = %e, "an event stream failed"),
        }
    }

    async fn follow(&mut self) -> Result<(), Ended> {
        let mut closing = self.app.events.closing.subscribe();
        // Subscribed before catching up, so nothing published meanwhile is missed; what the
        // ring holds at or before `after` was read from the log and is skipped.
        let mut live = self.app.events.live.subscribe();
        self.catch_up(None).await?;
        // The caller is checked again on every batch and, while idle, every heartbeat.
        let mut recheck = tokio::time::interval(self.app.events.settings.heartbeat);
        loop {
            let received = tokio::select! {
                _ = closing.wait_for(|closing| *closing) => return Ok(()),
                _ = self.queue.closed() => return Err(Ended::ClientGone),
                _ = recheck.tick() => None,
                received = live.recv() => Some(received),
            };
            let Some(received) = received else {
                let model = self.app.model().model().read().await;
                self.check_caller(&model)?;
                continue;
            };
            match received {
                Ok(first) => {
                    let mut batch = vec![first];
                    while batch.len() < LIVE_BATCH {
                        match live.try_recv() {
                            Ok(event) => batch.push(event),
                            Err(_) => break,
                        }
                    }
                    batch.retain(|event| event.position > self.after);
                    if let Some(first) = batch.first() {
                        if first.position > self.after + 1 {
                            self.catch_up(Some(first.position - 1)).await?;
                        }
                    }
                    self.offer(batch, Pace::Live).await?;
                }
                // The follower, not necessarily its client, fell behind the ring: what it
                // missed is in the log.
                Err(broadcast::error::RecvError::Lagged(_)) => self.catch_up(None).await?,
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            }
        }
    }

    /// Reads the log after `self.after` up to `up_to` (or what the read model has applied).
    async fn catch_up(&mut self, up_to: Option<u64>) -> Result<(), Ended> {
        loop {
            let applied = self.app.model().applied();
            let target = up_to.map_or(applied, |p| p.min(applied));
            if self.after >= target {
                return Ok(());
            }
            let count = CATCH_UP_CHUNK.min(target - self.after) as usize;
            let envelopes = self
                .app
                .store()
                .read_all(Position(self.after + 1), count)
                .await?;
            if envelopes.is_empty() {
                return Ok(());
            }
            let described = {
                let settled = self.app.model().settled().await?;
                envelopes
                    .iter()
                    .map(|e| PublicEvent::describe(e, &settled.model, settled.store))
                    .collect::<Result<Vec<_>, _>>()?
            };
            self.offer(
                described.into_iter().map(StreamedEvent::new).collect(),
                Pace::CatchUp,
            )
            .await?;
        }
    }

    /// Queues each event of `events` (in log order) the client may see and wants, deciding
    /// visibility under one read lock; each is looked at either way.
    async fn offer(&mut self, events: Vec<Arc<StreamedEvent>>, pace: Pace) -> Result<(), Ended> {
        let wanted: Vec<bool> = {
            let model = self.app.model().model().read().await;
            self.check_caller(&model)?;
            events
                .iter()
                .map(|event| {
                    self.filter.matches(event)
                        && event_visible(&model.directory, &self.principal, event.scope)
                })
                .collect()
        };
        for (event, wanted) in events.into_iter().zip(wanted) {
            let position = event.position;
            if wanted {
                self.queue_one(event, pace).await?;
            }
            self.after = position;
        }
        Ok(())
    }

    /// A stream ends once the token it was opened with is revoked or expires, or its user is
    /// deactivated (which also revokes their tokens): what it shows, it shows only while a new
    /// request with the same token would be answered.
    fn check_caller(&self, model: &LedgerModel) -> Result<(), Ended> {
        let token_valid = model
            .tokens
            .by_id
            .get(&self.credential)
            .is_some_and(|token| {
                !token.revoked
                    && check_token_use(
                        &token.scopes,
                        token.expires_at,
                        Timestamp::now(),
                        TokenUse::Read,
                    )
                    .is_ok()
            });
        let user_active = match &self.principal {
            Principal::User(user) => model.directory.is_active(*user),
            Principal::Runner { .. } | Principal::Auditor { .. } => true,
        };
        match token_valid && user_active {
            true => Ok(()),
            false => Err(Ended::CallerGone),
        }
    }

    /// Hands one event to the client's queue, or ends the stream if the client is too slow.
    async fn queue_one(&mut self, event: Arc<StreamedEvent>, pace: Pace) -> Result<(), Ended> {
        let item = StreamItem::Event(event);
        match pace {
            Pace::Live => match self.queue.try_send(item) {
                Ok(()) => Ok(()),
                Err(mpsc::error::TrySendError::Full(_)) => Err(self.overflow()),
                Err(mpsc::error::TrySendError::Closed(_)) => Err(Ended::ClientGone),
            },
            Pace::CatchUp => {
                let stall = self.app.events.settings.client_stall;
                match tokio::time::timeout(stall, self.queue.send(item)).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(_)) => Err(Ended::ClientGone),
                    Err(_) => Err(self.overflow()),
                }
            }
        }
    }

    /// The client fell behind: it is told where to resume (in the slot kept for it), and the
    /// stream ends, freeing its place.
    fn overflow(&mut self) -> Ended {
        self.app
            .events
            .overflowed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(
            resume_after = self.after,
            "an event stream's client read too slowly and was ended"
        );
        if let Some(notice) = self.notice.take() {
            notice.send(StreamItem::Overflow {
                resume_after: self.after,
            });
        }
        Ended::Overflowed
    }
}

/// The feed: follows the log from its end, describes each event once the read model has
/// applied it, and broadcasts it to the open streams. Never waits for a stream.
pub async fn follow_events(app: Arc<App>) {
    let mut subscription = app
        .store()
        .subscribe(Position(app.store().head().position + 1));
    loop {
        if let Err(e) = publish_next(&app, &mut subscription).await {
            tracing::error!(error = %e, "the event feed stopped; open event streams end");
            app.close_event_streams();
            return;
        }
    }
}

async fn publish_next(app: &App, subscription: &mut impl Subscription) -> Result<(), AppError> {
    // One burst never exceeds the ring, so a follower that keeps up never lags behind it.
    let most = FEED_BATCH.min(app.events.settings.live_backlog.max(1));
    let mut batch = vec![subscription.next().await?];
    while batch.len() < most {
        match subscription.try_next() {
            Some(envelope) => batch.push(envelope),
            None => break,
        }
    }
    let last = batch.last().map_or(0, |e| e.body.position.0);
    app.model().wait_for(last).await?;
    let described = {
        let settled = app.model().settled().await?;
        batch
            .iter()
            .map(|e| PublicEvent::describe(e, &settled.model, settled.store))
            .collect::<Result<Vec<_>, _>>()?
    };
    for event in described {
        // An error only means no stream is open.
        let _ = app.events.live.send(StreamedEvent::new(event));
    }
    Ok(())
}
