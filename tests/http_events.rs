//! `GET /v1/events` over real sockets: catch-up from the log then live, filters, who sees
//! what (never another user's personal workspace), resuming with `Last-Event-ID` without a gap
//! or a duplicate, heartbeats, a slow client ended with a resumable position, and the limits
//! (runners refused, too many streams 503, a position past the log 400).

mod http_support;

use std::time::Duration;

use credledger::app::EventStreamSettings;
use http_support::Server;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A canary: a secret value that must never appear in a stream.
const CANARY: &str = "canary-secret-7f3a9d";

/// One parsed SSE event.
#[derive(Debug, Clone)]
struct SseEvent {
    id: Option<u64>,
    event: String,
    data: Value,
}

/// Parses complete SSE events out of `buffer`, leaving a partial one; counts comment lines.
fn parse_sse(buffer: &mut String, heartbeats: &mut usize) -> Vec<SseEvent> {
    let mut out = Vec::new();
    while let Some(end) = buffer.find("\n\n") {
        let block: String = buffer.drain(..end + 2).collect();
        let (mut id, mut event, mut data) = (None, String::from("message"), String::new());
        let mut any = false;
        for line in block.lines() {
            if line.starts_with(':') {
                *heartbeats += 1;
                continue;
            }
            if line.is_empty() {
                continue;
            }
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            any = true;
            match name {
                "id" => id = value.parse().ok(),
                "event" => event = value.to_owned(),
                "data" => data.push_str(value),
                _ => {}
            }
        }
        if any {
            out.push(SseEvent {
                id,
                event,
                data: serde_json::from_str(&data).unwrap_or(Value::Null),
            });
        }
    }
    out
}

/// An open stream read through reqwest.
struct Stream {
    response: reqwest::Response,
    buffer: String,
    pending: std::collections::VecDeque<SseEvent>,
    heartbeats: usize,
    raw: String,
}

impl Stream {
    async fn open(s: &Server, token: &str, query: &str, last_event_id: Option<u64>) -> Stream {
        let mut request = s
            .client
            .get(format!("{}/v1/events{query}", s.base))
            .bearer_auth(token);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.expect("stream opens");
        assert_eq!(response.status(), 200, "stream answer");
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Stream {
            response,
            buffer: String::new(),
            pending: Default::default(),
            heartbeats: 0,
            raw: String::new(),
        }
    }

    /// The next event, or `None` when the stream ended.
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            let chunk = tokio::time::timeout(Duration::from_secs(20), self.response.chunk())
                .await
                .expect("an event within 20 s")
                .expect("stream reads")?;
            let text = String::from_utf8_lossy(&chunk).into_owned();
            self.raw.push_str(&text);
            self.buffer.push_str(&text);
            let parsed = parse_sse(&mut self.buffer, &mut self.heartbeats);
            self.pending.extend(parsed);
        }
    }

    /// The events that arrive until `beats` more heartbeats did (the stream is idle then).
    async fn events_until_heartbeats(&mut self, beats: usize) -> Vec<SseEvent> {
        let target = self.heartbeats + beats;
        let mut out: Vec<SseEvent> = self.pending.drain(..).collect();
        while self.heartbeats < target {
            let chunk = tokio::time::timeout(Duration::from_secs(20), self.response.chunk())
                .await
                .expect("a heartbeat within 20 s")
                .expect("stream reads")
                .expect("stream still open");
            let text = String::from_utf8_lossy(&chunk).into_owned();
            self.raw.push_str(&text);
            self.buffer.push_str(&text);
            out.extend(parse_sse(&mut self.buffer, &mut self.heartbeats));
        }
        out
    }

    /// The next `n` events.
    async fn take(&mut self, n: usize) -> Vec<SseEvent> {
        let mut out = Vec::new();
        while out.len() < n {
            out.push(self.next().await.expect("stream still open"));
        }
        out
    }
}

fn settings() -> EventStreamSettings {
    EventStreamSettings {
        heartbeat: Duration::from_millis(100),
        client_buffer: 4,
        live_backlog: 8,
        max_streams: 4,
        client_stall: Duration::from_millis(500),
    }
}

async fn start() -> Server {
    Server::start_with(|c| c.app.events = settings()).await
}

async fn metric(s: &Server, name: &str) -> u64 {
    let text = s
        .request(Method::GET, "/metrics", None, http_support::Body::None, &[])
        .await
        .text;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in metrics"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_catches_up_from_the_log_then_follows_live_and_resumes_without_gap_or_duplicate() {
    let s = start().await;
    let before = s
        .create(&s.editor, &s.shared, "airtable", json!({"token": CANARY}))
        .await;
    let head = s.head().await;
    // The auditor sees every event: positions are gapless from 1.
    let mut stream = Stream::open(&s, &s.auditor_token, "?from=0", None).await;
    let caught_up = stream.take(head as usize).await;
    let positions: Vec<u64> = caught_up.iter().map(|e| e.id.unwrap()).collect();
    assert_eq!(positions, (1..=head).collect::<Vec<_>>());
    let created = caught_up
        .iter()
        .find(|e| e.event == "authentication.created")
        .expect("the creation");
    assert_eq!(created.data["event_type"], "authentication.created");
    assert_eq!(created.data["position"], created.id.unwrap());
    assert_eq!(created.data["authentication"], before.as_str());
    assert_eq!(created.data["workspace"], s.shared.as_str());
    assert_eq!(created.data["stream"], format!("authentication-{before}"));
    assert_eq!(created.data["version"], 1);
    assert_eq!(created.data["actor"], format!("user:{}", s.editor.id));
    let field = &created.data["fields"][0];
    assert_eq!(field["field"], "token");
    assert!(
        field["fingerprint"].as_str().unwrap().starts_with("fp:"),
        "{field}"
    );
    assert!(field.get("value").is_none(), "no values: {field}");

    // Live: appended after the stream caught up.
    let live = s
        .create(&s.editor, &s.shared, "airtable", json!({"token": CANARY}))
        .await;
    let live_head = s.head().await;
    let next = stream.take((live_head - head) as usize).await;
    let ids: Vec<u64> = next.iter().map(|e| e.id.unwrap()).collect();
    assert_eq!(ids, (head + 1..=live_head).collect::<Vec<_>>());
    assert_eq!(next[0].data["authentication"], live.as_str());
    assert!(!stream.raw.contains(CANARY), "a secret reached the stream");
    let last_seen = live_head;
    drop(stream);

    // While disconnected, more happens; the reconnect resumes right after what it saw.
    for _ in 0..3 {
        s.create(&s.editor, &s.shared, "airtable", json!({"token": "t"}))
            .await;
    }
    let meanwhile = s.head().await;
    let mut resumed = Stream::open(&s, &s.auditor_token, "?from=0", Some(last_seen)).await;
    let after: Vec<u64> = resumed
        .take((meanwhile - last_seen) as usize)
        .await
        .iter()
        .map(|e| e.id.unwrap())
        .collect();
    assert_eq!(after, (last_seen + 1..=meanwhile).collect::<Vec<_>>());
    // Idle: heartbeats (comment lines) arrive; then live again, the next position exactly.
    tokio::time::sleep(Duration::from_millis(400)).await;
    s.create(&s.editor, &s.shared, "airtable", json!({"token": "t"}))
        .await;
    let again = resumed.next().await.unwrap();
    assert_eq!(again.id, Some(meanwhile + 1), "{again:?} {}", resumed.raw);
    assert!(resumed.heartbeats > 0, "heartbeats while idle");
    drop(resumed);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_and_visibility_a_user_never_sees_another_users_personal_events() {
    let s = start().await;
    let mut member = Stream::open(&s, &s.member.token, "?from=0", None).await;
    let mut typed = Stream::open(
        &s,
        &s.viewer.token,
        &format!(
            "?from=0&types=authentication.created,authentication.renamed&workspace={}",
            s.shared
        ),
        None,
    )
    .await;
    // The owner's personal authentication, a shared one, the member's own.
    let owners = s
        .create_personal("airtable", json!({"token": CANARY}))
        .await;
    let shared = s
        .create(&s.editor, &s.shared, "airtable", json!({"token": "t"}))
        .await;
    let own = s
        .create(
            &s.member,
            &s.member.personal,
            "airtable",
            json!({"token": "t"}),
        )
        .await;
    let org = s
        .create(
            &s.owner,
            &s.org_workspace,
            "airtable",
            json!({"token": "t"}),
        )
        .await;
    // The member sees its own and the org workspace's, never the owner's personal one nor
    // the shared workspace it is not in; it sees its directory events (its personal
    // workspace's creation, the organization's) and its own token, nobody else's.
    let mut seen = Vec::new();
    loop {
        let event = member.next().await.unwrap();
        let auth = event.data["authentication"].as_str().map(str::to_owned);
        seen.push(event);
        if auth.as_deref() == Some(org.as_str()) {
            break;
        }
    }
    let mut auths: Vec<&str> = seen
        .iter()
        .filter_map(|e| e.data["authentication"].as_str())
        .collect();
    auths.dedup();
    assert_eq!(auths, vec![own.as_str(), org.as_str()], "{seen:?}");
    for event in &seen {
        let workspace = event.data["workspace"].as_str();
        assert_ne!(workspace, Some(s.owner.personal.as_str()), "{event:?}");
        assert_ne!(workspace, Some(s.shared.as_str()), "{event:?}");
    }
    assert!(
        seen.iter().any(|e| e.event == "token.issued"),
        "its own token"
    );
    assert_eq!(
        seen.iter().filter(|e| e.event == "token.issued").count(),
        1,
        "only its own token: {seen:?}"
    );
    assert!(
        !owners.is_empty() && !member.raw.contains(&owners),
        "owner's personal id"
    );
    // The viewer's filtered stream: only the shared workspace's creations (and renames).
    let first = typed.next().await.unwrap();
    assert_eq!(first.event, "authentication.created");
    assert_eq!(first.data["authentication"], shared.as_str());
    s.call(
        Method::PATCH,
        &format!("/v1/authentications/{shared}"),
        &s.editor.token,
        Some(json!({"name": "renamed shared"})),
    )
    .await
    .expect(200);
    let renamed = typed.next().await.unwrap();
    assert_eq!(renamed.event, "authentication.renamed");
    assert_eq!(renamed.data["authentication"], shared.as_str());
    // By authentication.
    // The owner administers the organization but never sees the member's personal
    // authentication: its stream of it stays empty through heartbeats while the member
    // renames it (the member's own stream below gets its events).
    let mut owners_view = Stream::open(
        &s,
        &s.owner.token,
        &format!("?from=0&authentication={own}"),
        None,
    )
    .await;
    s.call(
        Method::PATCH,
        &format!("/v1/authentications/{own}"),
        &s.member.token,
        Some(json!({"name": "renamed own"})),
    )
    .await
    .expect(200);
    let nothing = owners_view.events_until_heartbeats(3).await;
    assert!(nothing.is_empty(), "the owner saw {nothing:?}");
    drop(owners_view);
    let mut mine = Stream::open(
        &s,
        &s.member.token,
        &format!("?from=0&authentication={own}"),
        None,
    )
    .await;
    let only = mine.next().await.unwrap();
    assert_eq!(only.data["authentication"], own.as_str());
    drop((member, typed, mine));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_runners_bad_positions_and_too_many_streams() {
    let s = start().await;
    let runner = s
        .call(Method::GET, "/v1/events", &s.runner_token, None)
        .await
        .expect(403);
    assert_eq!(runner.body["field"], "principal");
    let ahead = s
        .call(Method::GET, "/v1/events?from=999999", &s.owner.token, None)
        .await
        .expect(400);
    assert_eq!(ahead.body["field"], "from");
    let header = s
        .call_with(
            Method::GET,
            "/v1/events",
            Some(&s.owner.token),
            None,
            &[("last-event-id", "nope")],
        )
        .await
        .expect(400);
    assert_eq!(header.body["field"], "last-event-id");
    let bad_type = s
        .call(
            Method::GET,
            "/v1/events?types=authentication.nope",
            &s.owner.token,
            None,
        )
        .await
        .expect(400);
    assert_eq!(bad_type.body["field"], "types");
    let bad_ws = s
        .call(Method::GET, "/v1/events?workspace=x", &s.owner.token, None)
        .await
        .expect(400);
    assert_eq!(bad_ws.body["field"], "workspace");
    let mut open = Vec::new();
    for _ in 0..settings().max_streams {
        open.push(Stream::open(&s, &s.owner.token, "", None).await);
    }
    let busy = s
        .call(Method::GET, "/v1/events", &s.owner.token, None)
        .await
        .expect(503);
    assert_eq!(busy.body["field"], "events");
    // A closed stream frees its place.
    drop(open.pop());
    let mut freed = false;
    for _ in 0..100 {
        if metric(&s, "credledger_event_streams_open").await < settings().max_streams as u64 {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(freed, "a closed stream's place is freed");
    open.push(Stream::open(&s, &s.owner.token, "", None).await);
    drop(open);
    s.stop().await;
}

/// Reads what a raw HTTP/1.1 stream answer holds until it ends (chunked framing removed
/// crudely: SSE lines survive it since chunk headers are lines of their own).
async fn read_to_end(socket: &mut tokio::net::TcpStream) -> String {
    let mut all = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(20), socket.read(&mut buf)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => {
                all.extend_from_slice(&buf[..n]);
                if all.ends_with(b"0\r\n\r\n") {
                    break;
                }
            }
            Ok(Err(e)) => panic!("read: {e}"),
            Err(_) => panic!("the slow stream did not end"),
        }
    }
    String::from_utf8_lossy(&all).into_owned()
}

/// The SSE body of a raw chunked HTTP/1.1 answer.
fn dechunk(raw: &str) -> String {
    let (_, mut rest) = raw.split_once("\r\n\r\n").expect("headers end");
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 {
            break;
        }
        body.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_is_ended_with_a_position_to_resume_from_and_never_slows_the_writer() {
    let s = start().await;
    let addr = s.server.as_ref().unwrap().addr;
    let from = s.head().await;
    // A client that asks for the stream and then reads nothing, with a small window.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut slow = socket.connect(addr).await.unwrap();
    let request = format!(
        "GET /v1/events?from={from} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {}\r\n\r\n",
        s.auditor_token
    );
    slow.write_all(request.as_bytes()).await.unwrap();
    // Writers go on at full speed until the server gives up on the slow client.
    let mut written = 0;
    while metric(&s, "credledger_event_streams_overflowed_total").await == 0 {
        assert!(written < 20_000, "the slow client was never ended");
        let batch =
            (0..25).map(|_| s.create(&s.editor, &s.shared, "airtable", json!({"token": "t"})));
        futures::future::join_all(batch).await;
        written += 25;
    }
    let exposition = s
        .request(Method::GET, "/metrics", None, http_support::Body::None, &[])
        .await
        .text;
    assert!(
        exposition.contains("# TYPE credledger_event_streams_overflowed_total counter"),
        "the overflow count is a counter: {exposition}"
    );
    // Ended, it holds no place: every place can be taken while its answer is still unread.
    let mut freed = false;
    for _ in 0..200 {
        if metric(&s, "credledger_event_streams_open").await == 0 {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        freed,
        "the slow stream's place was not freed while its client read nothing"
    );
    let mut others = Vec::new();
    for _ in 0..settings().max_streams {
        others.push(Stream::open(&s, &s.owner.token, "", None).await);
    }
    drop(others);
    let body = dechunk(&read_to_end(&mut slow).await);
    let mut rest = body.clone();
    let events = parse_sse(&mut rest, &mut 0);
    let last = events.last().expect("events, then the overflow notice");
    assert_eq!(last.event, "overflow", "{last:?}");
    let resume = last.data["resume_after"].as_u64().unwrap();
    assert_eq!(last.id, Some(resume));
    let delivered: Vec<u64> = events[..events.len() - 1]
        .iter()
        .map(|e| e.id.unwrap())
        .collect();
    assert_eq!(
        delivered,
        (from + 1..=resume).collect::<Vec<_>>(),
        "gapless up to the notice"
    );
    // Resuming from the notice's position continues exactly there.
    let mut resumed = Stream::open(&s, &s.auditor_token, "", Some(resume)).await;
    assert_eq!(resumed.next().await.unwrap().id, Some(resume + 1));
    drop(resumed);
    s.stop().await;
}

/// An event appended right after a stream opened arrives on its own (the stream listens to
/// the live feed before catching up, so nothing published in between waits for a later one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_appended_right_after_a_stream_opens_arrives_without_a_later_one() {
    let s = start().await;
    for round in 0..40 {
        let mut stream = Stream::open(&s, &s.auditor_token, "", None).await;
        let head = s.head().await;
        s.create(&s.editor, &s.shared, "airtable", json!({"token": "t"}))
            .await;
        let first = stream.next().await.expect("the stream stays open");
        assert_eq!(first.id, Some(head + 1), "round {round}: {first:?}");
        drop(stream);
    }
    s.stop().await;
}

/// Events of tokens and sign-in links belong to the user they concern: a member never sees
/// the owner's sign-in link being issued nor a refused use of the owner's token, an auditor
/// sees both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_never_sees_another_users_sign_in_links_or_refused_token_uses() {
    let s = start().await;
    // The owner's and the member's each: a sign-in link issued, and a refused use of a
    // read-only token of theirs (minting a link administers).
    for holder in [&s.owner.token, &s.member.token] {
        s.call(Method::POST, "/v1/sign-in-links", holder, Some(json!({})))
            .await
            .expect(201);
        let issued = s
            .call(
                Method::POST,
                "/v1/tokens",
                holder,
                Some(json!({"kind": "user", "label": "read only", "scopes": ["read"]})),
            )
            .await
            .expect(201);
        let read_only = issued.body["token"].as_str().expect("token").to_owned();
        s.call(
            Method::POST,
            "/v1/sign-in-links",
            &read_only,
            Some(json!({})),
        )
        .await
        .expect(403);
    }
    // A marker the member sees: its own authentication, made after all of them.
    let marker = s
        .create(
            &s.member,
            &s.member.personal,
            "airtable",
            json!({"token": "t"}),
        )
        .await;
    let until_marker = |mut stream: Stream| {
        let marker = marker.clone();
        async move {
            let mut types = Vec::new();
            loop {
                let event = stream.next().await.expect("stream open");
                types.push(event.event.clone());
                if event.data["authentication"].as_str() == Some(marker.as_str()) {
                    return types;
                }
            }
        }
    };
    let member = until_marker(Stream::open(&s, &s.member.token, "?from=0", None).await).await;
    let auditor = until_marker(Stream::open(&s, &s.auditor_token, "?from=0", None).await).await;
    let count = |types: &[String], wanted: &str| types.iter().filter(|t| *t == wanted).count();
    for kind in ["token.sign_in_link_issued", "token_use.refused"] {
        assert_eq!(count(&member, kind), 1, "only its own {kind}: {member:?}");
        assert_eq!(count(&auditor, kind), 2, "every {kind}: {auditor:?}");
    }
    s.stop().await;
}

/// A stream outlives no deactivation: once its user is deactivated (which revokes the user's
/// tokens) the stream ends, on the next batch or heartbeat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_users_stream_ends() {
    let s = start().await;
    let mut member = Stream::open(&s, &s.member.token, "", None).await;
    s.call(
        Method::POST,
        &format!("/v1/users/{}/deactivate", s.member.id),
        &s.owner.token,
        Some(json!({})),
    )
    .await
    .expect(200);
    // Events after it, in a workspace the member was in, never reach the stream: it ends.
    s.create(
        &s.owner,
        &s.org_workspace,
        "airtable",
        json!({"token": "t"}),
    )
    .await;
    let mut after = Vec::new();
    while let Some(event) = member.next().await {
        after.push(event);
    }
    assert!(
        after.iter().all(|e| e.event != "authentication.created"),
        "a deactivated user's stream went on: {after:?}"
    );
    s.stop().await;
}

/// Issues the member a token with `body` (kind user), returning its text and id.
async fn members_token(s: &Server, body: Value) -> (String, String) {
    let issued = s
        .call(Method::POST, "/v1/tokens", &s.member.token, Some(body))
        .await
        .expect(201);
    (
        issued.body["token"].as_str().expect("token").to_owned(),
        issued.body["id"].as_str().expect("id").to_owned(),
    )
}

/// Reads a stream to its end, returning what arrived.
async fn to_the_end(stream: &mut Stream) -> Vec<SseEvent> {
    let mut out = Vec::new();
    while let Some(event) = stream.next().await {
        out.push(event);
    }
    out
}

/// A stream lives as long as the token it was opened with: revoked, the stream ends (on its
/// next batch or heartbeat) and nothing after the revocation reaches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ends_when_its_token_is_revoked() {
    let s = start().await;
    let (token, id) = members_token(&s, json!({"kind": "user", "label": "follower"})).await;
    let mut stream = Stream::open(&s, &token, "?types=authentication.created", None).await;
    let before = s
        .create(
            &s.member,
            &s.member.personal,
            "airtable",
            json!({"token": "a"}),
        )
        .await;
    let first = stream.next().await.expect("the stream works before");
    assert_eq!(first.data["authentication"], before.as_str());
    s.call(
        Method::DELETE,
        &format!("/v1/tokens/{id}"),
        &s.member.token,
        None,
    )
    .await
    .expect(204);
    let after = s
        .create(
            &s.member,
            &s.member.personal,
            "airtable",
            json!({"token": "b"}),
        )
        .await;
    let rest = to_the_end(&mut stream).await;
    assert!(
        rest.iter()
            .all(|e| e.data["authentication"] != after.as_str()),
        "a revoked token's stream went on: {rest:?}"
    );
    // The member's other token still streams.
    let mut other = Stream::open(
        &s,
        &s.member.token,
        "?from=0&types=authentication.created",
        None,
    )
    .await;
    let seen = other.events_until_heartbeats(1).await;
    assert!(seen
        .iter()
        .any(|e| e.data["authentication"] == after.as_str()));
    s.stop().await;
}

/// A stream opened with a token that then expires ends too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ends_when_its_token_expires() {
    let s = start().await;
    let (mut stream, expires) = loop {
        let expires = chrono::Utc::now() + chrono::Duration::seconds(3);
        let body = json!({"kind": "user", "label": "short", "expires_at": expires.to_rfc3339()});
        let answer = s
            .call(Method::POST, "/v1/tokens", &s.member.token, Some(body))
            .await;
        if answer.status.as_u16() == 422 && answer.body["field"] == "expires_at" {
            continue; // Slower than the margin: issue another.
        }
        let token = answer.expect(201).body["token"]
            .as_str()
            .expect("token")
            .to_owned();
        let opened = s
            .client
            .get(format!("{}/v1/events?types=authentication.created", s.base))
            .bearer_auth(&token)
            .send()
            .await
            .expect("answer");
        if opened.status() == 401 {
            continue; // Expired before the stream opened: issue another.
        }
        assert_eq!(opened.status(), 200);
        break (
            Stream {
                response: opened,
                buffer: String::new(),
                pending: Default::default(),
                heartbeats: 0,
                raw: String::new(),
            },
            expires,
        );
    };
    while chrono::Utc::now() <= expires {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = s
        .create(
            &s.member,
            &s.member.personal,
            "airtable",
            json!({"token": "c"}),
        )
        .await;
    let rest = to_the_end(&mut stream).await;
    assert!(
        rest.iter()
            .all(|e| e.data["authentication"] != after.as_str()),
        "an expired token's stream went on: {rest:?}"
    );
    s.stop().await;
}
