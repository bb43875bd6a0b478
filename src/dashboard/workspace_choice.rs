//! The workspace select of the dashboard's forms: every workspace the user may see, by name,
//! the one chosen marked. What the user may do in it is decided by the command the form
//! posts, not by this list.

use crate::domain::ids::UserId;
use crate::http::SharedState;

/// A workspace in a select.
pub(super) struct WorkspaceChoice {
    /// Its id, the option's value.
    pub(super) id: String,
    pub(super) name: String,
    pub(super) selected: bool,
}

/// The workspaces `user` may see, in the order the directory lists them, with the one whose
/// id is `chosen` (as posted, or none) selected.
pub(super) async fn workspace_choices(
    state: &SharedState,
    user: UserId,
    chosen: Option<&str>,
) -> Vec<WorkspaceChoice> {
    state
        .app
        .workspaces_visible_to(user)
        .await
        .into_iter()
        .map(|w| {
            let id = w.id.to_string();
            WorkspaceChoice {
                selected: chosen == Some(id.as_str()),
                id,
                name: w.name,
            }
        })
        .collect()
}
