//! Given/when/then: where a custom service may back an authentication (create and move).

use super::testkit::*;
use super::*;
use crate::domain::ids::{ServiceId, UserId, WorkspaceId};
use crate::domain::services::fixtures::internal_api as spec;
use crate::domain::services::{CustomServiceEvent, FieldFormat, FieldSpec, ServiceRef};

fn service_id() -> ServiceId {
    ServiceId::from_uuid(uuid::Uuid::from_u128(7))
}

/// A world whose registry holds one custom service defined in `ws`, retired or not.
fn world_with_service(ws: WorkspaceId, retired: bool) -> World {
    let mut w = World::new();
    let by = w.f.owner;
    w.services.apply(&CustomServiceEvent::CustomServiceDefined {
        service: service_id(),
        workspace: ws,
        spec: spec(),
        defined_by: by,
    });
    if retired {
        w.services.apply(&CustomServiceEvent::CustomServiceRetired {
            service: service_id(),
            retired_by: by,
        });
    }
    w
}

fn create_custom(ws: WorkspaceId) -> AuthenticationCommand {
    changed(create(ws, "airtable", &[("api_key", "k-1")], &[]), |c| {
        c.service = ServiceRef::Custom(service_id())
    })
}

fn created_in(ws: WorkspaceId, actor: UserId) -> Vec<Event> {
    let w = world_with_service(ws, false).as_(actor);
    S::given_in(w, vec![])
        .when(create_custom(ws))
        .events()
        .to_vec()
}

#[test]
fn a_personal_service_backs_authentications_only_in_its_personal_workspace() {
    let f = World::new().f;
    let own = f.personal(f.owner);
    S::given_in(world_with_service(own, false).as_(f.owner), vec![])
        .when(create_custom(own))
        .events();
    for ws in [f.shared, f.org_workspace] {
        S::given_in(world_with_service(own, false).as_(f.owner), vec![])
            .when(create_custom(ws))
            .then_expect_error(AuthenticationError::ServiceNotUsableHere);
    }
}

#[test]
fn a_hidden_service_refuses_like_an_unknown_one() {
    let f = World::new().f;
    // The shared workspace's editor may not see the owner's personal service.
    let hidden = ServiceRef::Custom(service_id());
    S::given_in(world_with_service(f.personal(f.owner), false), vec![])
        .when(create_custom(f.shared))
        .then_expect_error(AuthenticationError::UnknownService(hidden.clone()));
    S::given_in(World::new(), vec![])
        .when(create_custom(f.shared))
        .then_expect_error(AuthenticationError::UnknownService(hidden));
}

#[test]
fn an_organization_service_backs_authentications_in_the_organization_s_workspaces() {
    let f = World::new().f;
    for (ws, actor) in [(f.shared, f.ws_editor), (f.org_workspace, f.admin)] {
        S::given_in(
            world_with_service(f.org_workspace, false).as_(actor),
            vec![],
        )
        .when(create_custom(ws))
        .events();
    }
    S::given_in(
        world_with_service(f.org_workspace, false).as_(f.member),
        vec![],
    )
    .when(create_custom(f.personal(f.member)))
    .then_expect_error(AuthenticationError::ServiceNotUsableHere);
}

#[test]
fn a_retired_service_backs_no_new_authentication() {
    let f = World::new().f;
    S::given_in(world_with_service(f.shared, true), vec![])
        .when(create_custom(f.shared))
        .then_expect_error(AuthenticationError::ServiceRetired);
}

#[test]
fn an_authentication_moves_only_where_its_service_reaches() {
    let f = World::new().f;
    // Defined in the organization workspace, created in the shared one by its admin.
    let given = created_in(f.shared, f.admin);
    // Into the organization workspace: reachable, also once the service is retired.
    for retired in [false, true] {
        S::given_in(
            world_with_service(f.org_workspace, retired).as_(f.admin),
            given.clone(),
        )
        .when(AuthenticationCommand::Move {
            to: f.org_workspace,
        })
        .then_expect_events(vec![AuthenticationEvent::Moved {
            from: f.shared,
            to: f.org_workspace,
        }]);
    }
    // Into a personal workspace: the service does not reach it.
    S::given_in(
        world_with_service(f.org_workspace, false).as_(f.admin),
        given,
    )
    .when(AuthenticationCommand::Move {
        to: f.personal(f.admin),
    })
    .then_expect_error(AuthenticationError::ServiceNotUsableHere);
    // A shared workspace's service stays in that workspace.
    let in_shared = created_in(f.shared, f.ws_editor);
    S::given_in(world_with_service(f.shared, false), in_shared)
        .when(AuthenticationCommand::Move {
            to: f.personal(f.ws_editor),
        })
        .then_expect_error(AuthenticationError::ServiceNotUsableHere);
}

#[test]
fn existing_authentications_of_a_retired_or_changed_service_keep_working() {
    let f = World::new().f;
    let given = created_in(f.shared, f.ws_editor);
    // Re-authentication validates against the current definition, retired or not.
    let mut w = world_with_service(f.shared, false);
    let mut changed = spec();
    changed.fields.push(FieldSpec {
        name: name("region"),
        secret: false,
        required: false,
        format: FieldFormat::Hostname,
        description: "region".into(),
    });
    w.services.apply(&CustomServiceEvent::CustomServiceChanged {
        service: service_id(),
        spec: changed,
        changed_by: f.owner,
    });
    w.services.apply(&CustomServiceEvent::CustomServiceRetired {
        service: service_id(),
        retired_by: f.owner,
    });
    let region = || reauth(vec![("region", set("eu.example.com"))]);
    S::given_in(w, given.clone()).when(region()).events();
    let w = world_with_service(f.shared, true);
    S::given_in(w, given).when(region()).then_expect_error(
        FieldError::Unknown {
            field: name("region"),
        }
        .into(),
    );
}
