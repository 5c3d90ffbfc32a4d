/**
 * Given/when/then on a pure decider (README: Architecture): given a stream's events, folded with
 * `evolve` from the initial state, when a command, then the decision. One shape for every decider
 * test: `spec.given(...events).when(command).thenEquals(decision)` (not `then`: an
 * object with a `then` member is awaited as a promise).
 */
import { expect } from "bun:test";

/** A decider as the features write it; `context` is what a decision reads beside the stream. */
export interface Decider<Command, State, Event, Decision, Context extends unknown[] = []> {
  decide(command: Command, state: State, ...context: Context): Decision;
  evolve(state: State, event: Event): State;
  initialState(): State;
}

export interface Given<Command, State, Decision, Context extends unknown[]> {
  /** The state the given events fold into. */
  state: State;
  when(command: Command, ...context: Context): Then<Decision>;
}

export interface Then<Decision> {
  /** The decision itself, for what equality cannot say (a loop, a derived value). */
  decision: Decision;
  /** The decision is exactly this (outcome, events and all). */
  thenEquals(expected: Decision): void;
  /** The decision holds at least these members (arrays match element by element). */
  thenMatches(expected: Partial<Decision> | Record<string, unknown>): void;
}

function given<Command, State, Decision, Context extends unknown[]>(
  decide: (command: Command, state: State, ...context: Context) => Decision,
  state: State,
): Given<Command, State, Decision, Context> {
  return {
    state,
    when(command, ...context) {
      const decision = decide(command, state, ...context);
      return {
        decision,
        thenEquals: (expected) => expect(decision).toEqual(expected),
        thenMatches: (expected) => expect(decision).toMatchObject(expected as object),
      };
    },
  };
}

export function deciderSpec<Command, State, Event, Decision, Context extends unknown[] = []>(
  decider: Decider<Command, State, Event, Decision, Context>,
) {
  return {
    given: (...events: Event[]): Given<Command, State, Decision, Context> =>
      given(decider.decide, events.reduce(decider.evolve, decider.initialState())),
  };
}

/** For a decider whose state is looked up in a read model rather than folded from a stream. */
export function lookupDeciderSpec<Command, State, Decision, Context extends unknown[] = []>(
  decide: (command: Command, state: State, ...context: Context) => Decision,
) {
  return {
    given: (state: State): Given<Command, State, Decision, Context> => given(decide, state),
  };
}
