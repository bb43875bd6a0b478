//! Given/when/then test helper modelled on cqrs-es' `TestFramework`.

use std::fmt::Debug;

/// What the scenario helper needs from an aggregate under test.
pub(crate) trait Aggregate: Default {
    /// Command type.
    type Command;
    /// Event type.
    type Event: Debug + PartialEq;
    /// Error type.
    type Error: Debug + PartialEq;
    /// Warning type.
    type Warning: Debug + PartialEq;
    /// Everything else a decision needs (directory, catalog, clock, ...).
    type World;
    /// Folds one event into the state.
    fn apply_event(&mut self, event: &Self::Event);
    /// Decides a command.
    #[allow(clippy::type_complexity)]
    fn handle(
        &self,
        world: &Self::World,
        command: Self::Command,
    ) -> Result<(Vec<Self::Event>, Vec<Self::Warning>), Self::Error>;
}

/// A test scenario: prior events and the world the decision runs in.
pub(crate) struct Scenario<A: Aggregate> {
    state: A,
    world: A::World,
}

impl<A: Aggregate> Scenario<A>
where
    A::World: Default,
{
    /// Starts from these prior events in a default world.
    pub(crate) fn given(events: Vec<A::Event>) -> Self {
        Self::given_in(A::World::default(), events)
    }
}

impl<A: Aggregate> Scenario<A> {
    /// Starts from these prior events in the given world.
    pub(crate) fn given_in(world: A::World, events: Vec<A::Event>) -> Self {
        let mut state = A::default();
        for event in &events {
            state.apply_event(event);
        }
        Self { state, world }
    }

    /// Runs the command.
    pub(crate) fn when(self, command: A::Command) -> Outcome<A> {
        let result = self.state.handle(&self.world, command);
        Outcome {
            state: self.state,
            result,
        }
    }
}

/// The result of a scenario, to be checked.
pub(crate) struct Outcome<A: Aggregate> {
    state: A,
    #[allow(clippy::type_complexity)]
    result: Result<(Vec<A::Event>, Vec<A::Warning>), A::Error>,
}

#[allow(dead_code)] // not every aggregate's tests use every check
impl<A: Aggregate> Outcome<A> {
    /// Asserts success with exactly these events.
    #[track_caller]
    pub(crate) fn then_expect_events(self, expected: Vec<A::Event>) -> Self {
        match &self.result {
            Ok((events, _)) => assert_eq!(events, &expected, "events differ"),
            Err(err) => panic!("expected events {expected:?}, got error {err:?}"),
        }
        self
    }

    /// Asserts success with exactly these warnings.
    #[track_caller]
    pub(crate) fn then_expect_warnings(self, expected: Vec<A::Warning>) -> Self {
        match &self.result {
            Ok((_, warnings)) => assert_eq!(warnings, &expected, "warnings differ"),
            Err(err) => panic!("expected warnings {expected:?}, got error {err:?}"),
        }
        self
    }

    /// Asserts failure with exactly this error.
    #[track_caller]
    pub(crate) fn then_expect_error(self, expected: A::Error) {
        match self.result {
            Ok((events, _)) => panic!("expected error {expected:?}, got events {events:?}"),
            Err(err) => assert_eq!(err, expected, "errors differ"),
        }
    }

    /// Asserts success and returns the events for closer inspection.
    #[track_caller]
    pub(crate) fn events(&self) -> &[A::Event] {
        match &self.result {
            Ok((events, _)) => events,
            Err(err) => panic!("expected success, got error {err:?}"),
        }
    }

    /// Asserts success and returns the state after applying the new events.
    #[track_caller]
    pub(crate) fn then_state(self) -> A {
        let mut state = self.state;
        match self.result {
            Ok((events, _)) => {
                for event in &events {
                    state.apply_event(event);
                }
                state
            }
            Err(err) => panic!("expected success, got error {err:?}"),
        }
    }
}
