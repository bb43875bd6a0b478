//! Names are unique per workspace even under concurrent requests: creates, renames, moves and
//! restores racing for one name over real HTTP, each with exactly one winner, and the outcome
//! still holding after a restart (listing, a new create, freeing the name by renaming away).

mod http_support;

use std::sync::Arc;

use http_support::{Answer, Server};
use reqwest::Method;
use serde_json::{json, Value};

const RACERS: usize = 32;

/// Runs `RACERS` requests at once; `make(i)` gives method, path and body of request `i`.
async fn race(
    s: &Arc<Server>,
    token: &str,
    make: impl Fn(usize) -> (Method, String, Value),
) -> Vec<Answer> {
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let (method, path, body) = make(i);
        let (s, token) = (s.clone(), token.to_owned());
        tasks.push(tokio::spawn(async move {
            s.call(method, &path, &token, Some(body)).await
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("racer"));
    }
    answers
}

/// The problem type's last segment, e.g. `duplicate-name`.
fn code(answer: &Answer) -> &str {
    answer.body["type"]
        .as_str()
        .and_then(|t| t.rsplit('/').next())
        .unwrap_or_default()
}

/// Exactly one answer with `won`; every other one is the duplicate-name conflict.
fn one_winner(answers: &[Answer], won: u16) -> usize {
    let winners: Vec<usize> = (0..answers.len())
        .filter(|&i| answers[i].status.as_u16() == won)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one winner");
    for (i, answer) in answers.iter().enumerate() {
        if i != winners[0] {
            assert_eq!(answer.status.as_u16(), 409, "{}", answer.text);
            assert_eq!(code(answer), "duplicate-name", "{}", answer.text);
            assert_eq!(answer.body["field"], "name", "{}", answer.text);
        }
    }
    winners[0]
}

/// The ids of the active authentications in a workspace with this name (any case).
async fn named(s: &Server, token: &str, workspace: &str, name: &str) -> Vec<String> {
    let page = s
        .call(
            Method::GET,
            &format!("/v1/authentications?workspace={workspace}&limit=500"),
            token,
            None,
        )
        .await
        .expect(200);
    page.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|a| {
            a["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .map(|a| a["id"].as_str().expect("id").to_owned())
        .collect()
}

fn create_body(name: &str, workspace: &str) -> Value {
    json!({"name": name, "workspace": workspace, "service": "airtable", "fields": {"token": "t"}})
}

/// After a restart: exactly `winner` holds the name, a new create of it is refused, and
/// renaming the winner away frees it.
async fn holds_after_restart(s: &mut Server, workspace: &str, name: &str, winner: &str) {
    s.restart().await;
    let token = s.owner.token.clone();
    assert_eq!(
        named(s, &token, workspace, name).await,
        vec![winner.to_owned()]
    );
    let again = s
        .call(
            Method::POST,
            "/v1/authentications",
            &token,
            Some(create_body(&name.to_uppercase(), workspace)),
        )
        .await
        .expect(409);
    assert_eq!(code(&again), "duplicate-name");
    s.call(
        Method::PATCH,
        &format!("/v1/authentications/{winner}"),
        &token,
        Some(json!({"name": format!("{name} (old)")})),
    )
    .await
    .expect(200);
    s.call(
        Method::POST,
        "/v1/authentications",
        &token,
        Some(create_body(name, workspace)),
    )
    .await
    .expect(201);
}

async fn restore(s: &Server, id: &str, token: &str) -> Answer {
    let path = format!("/v1/authentications/{id}/restore");
    s.call(Method::POST, &path, token, Some(json!({"version": 1})))
        .await
}

fn into_owned(s: Arc<Server>) -> Server {
    Arc::try_unwrap(s).unwrap_or_else(|_| panic!("every racer has finished"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_name_have_one_winner() {
    let s = Arc::new(Server::start().await);
    let workspace = s.shared.clone();
    let answers = race(&s, &s.owner.token.clone(), |i| {
        // Different cases, one name key.
        let name = if i % 2 == 0 { "Race Name" } else { "race name" };
        (
            Method::POST,
            "/v1/authentications".to_owned(),
            create_body(name, &workspace),
        )
    })
    .await;
    let winner = one_winner(&answers, 201);
    let id = answers[winner].body["id"].as_str().expect("id").to_owned();
    let mut s = into_owned(s);
    holds_after_restart(&mut s, &workspace, "race name", &id).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_renames_to_one_name_have_one_winner() {
    let s = Arc::new(Server::start().await);
    let workspace = s.shared.clone();
    let mut ids = Vec::new();
    for i in 0..RACERS {
        let created = s
            .call(
                Method::POST,
                "/v1/authentications",
                &s.owner.token,
                Some(create_body(&format!("Before {i}"), &workspace)),
            )
            .await
            .expect(201);
        ids.push(created.body["id"].as_str().expect("id").to_owned());
    }
    let answers = race(&s, &s.owner.token.clone(), |i| {
        (
            Method::PATCH,
            format!("/v1/authentications/{}", ids[i]),
            json!({"name": "Renamed Target"}),
        )
    })
    .await;
    let winner = one_winner(&answers, 200);
    let mut s = into_owned(s);
    holds_after_restart(&mut s, &workspace, "renamed target", &ids[winner]).await;
    // The losers kept their names.
    let token = s.owner.token.clone();
    for (i, id) in ids.iter().enumerate().filter(|(i, _)| *i != winner) {
        assert_eq!(
            named(&s, &token, &workspace, &format!("Before {i}")).await,
            vec![id.clone()]
        );
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_moves_of_one_name_into_a_workspace_have_one_winner() {
    let s = Arc::new(Server::start().await);
    let token = s.owner.token.clone();
    let mut ids = Vec::new();
    for i in 0..RACERS {
        let workspace = s
            .call(
                Method::POST,
                "/v1/workspaces",
                &token,
                Some(json!({"organization": s.org, "name": format!("Source {i}")})),
            )
            .await
            .expect(201);
        let workspace = workspace.body["id"].as_str().expect("id").to_owned();
        let created = s
            .call(
                Method::POST,
                "/v1/authentications",
                &token,
                Some(create_body("Traveller", &workspace)),
            )
            .await
            .expect(201);
        ids.push(created.body["id"].as_str().expect("id").to_owned());
    }
    let destination = s.shared.clone();
    let answers = race(&s, &token, |i| {
        (
            Method::PATCH,
            format!("/v1/authentications/{}", ids[i]),
            json!({"workspace": destination}),
        )
    })
    .await;
    let winner = one_winner(&answers, 200);
    let mut s = into_owned(s);
    holds_after_restart(&mut s, &destination, "traveller", &ids[winner]).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restoring_a_deleted_one_whose_name_was_retaken_is_refused() {
    let mut s = Server::start().await;
    let token = s.owner.token.clone();
    let workspace = s.shared.clone();
    let first = s
        .call(
            Method::POST,
            "/v1/authentications",
            &token,
            Some(create_body("Phoenix", &workspace)),
        )
        .await
        .expect(201);
    let first = first.body["id"].as_str().expect("id").to_owned();
    s.call(
        Method::DELETE,
        &format!("/v1/authentications/{first}"),
        &token,
        None,
    )
    .await
    .expect(200);
    // Deleting freed the name.
    let second = s
        .call(
            Method::POST,
            "/v1/authentications",
            &token,
            Some(create_body("phoenix", &workspace)),
        )
        .await
        .expect(201);
    let second = second.body["id"].as_str().expect("id").to_owned();
    let refused = restore(&s, &first, &token).await.expect(409);
    assert_eq!(code(&refused), "duplicate-name");
    s.restart().await;
    let refused = restore(&s, &first, &token).await.expect(409);
    assert_eq!(code(&refused), "duplicate-name");
    assert_eq!(
        named(&s, &token, &workspace, "phoenix").await,
        vec![second.clone()]
    );
    // Once the name is free again, the restore goes through and takes it.
    s.call(
        Method::PATCH,
        &format!("/v1/authentications/{second}"),
        &token,
        Some(json!({"name": "Phoenix II"})),
    )
    .await
    .expect(200);
    restore(&s, &first, &token).await.expect(200);
    assert_eq!(named(&s, &token, &workspace, "phoenix").await, vec![first]);
    s.stop().await;
}
