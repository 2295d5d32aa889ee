"""State machines: each stateful model declares its statuses and legal moves once.

A model gets ``__states__ = StateMachine(...)`` and the :class:`Stateful` mixin; services move it
with ``obj.transition_to("approved")``, which raises :class:`IllegalTransition` (409) on a move the
table does not allow, instead of overwriting the status. Orders, withdrawals, deposits and KYC
submissions declare theirs next to their tables; loans, subscriptions and bots will too.
"""

from collections.abc import Iterable, Mapping

from tradeapp.errors import IllegalTransition


class StateMachine:
    """The statuses of one model and which status may follow which."""

    def __init__(self, noun: str, transitions: Mapping[str, Iterable[str]], *, attribute: str = "status"):
        self.noun = noun
        self.attribute = attribute
        self.transitions: dict[str, frozenset[str]] = {state: frozenset(nxt) for state, nxt in transitions.items()}
        unknown = {nxt for targets in self.transitions.values() for nxt in targets} - set(self.transitions)
        if unknown:
            raise ValueError(f"{noun}: transitions to undeclared statuses {sorted(unknown)}")

    @property
    def statuses(self) -> tuple[str, ...]:
        return tuple(self.transitions)

    @property
    def terminal(self) -> frozenset[str]:
        """Statuses nothing may follow."""
        return frozenset(state for state, nxt in self.transitions.items() if not nxt)

    def can(self, current: str, new: str) -> bool:
        return new in self.transitions.get(current, ())

    def check(self, current: str, new: str, message: str | None = None) -> None:
        """:raise IllegalTransition: when ``current`` may not become ``new``."""
        if not self.can(current, new):
            raise IllegalTransition(message or f"A {current.replace('_', ' ')} {self.noun} cannot become {new}.")

    def move(self, obj, new: str, message: str | None = None) -> None:
        """Set ``obj``'s status to ``new`` if the table allows it, else raise IllegalTransition."""
        self.check(getattr(obj, self.attribute), new, message)
        setattr(obj, self.attribute, new)


class Stateful:
    """Mixin for models that declare ``__states__``: ``obj.transition_to(new)``."""

    __states__: StateMachine

    def transition_to(self, new: str, message: str | None = None) -> None:
        """Move to ``new``; :raise IllegalTransition: when the model's state machine forbids it."""
        type(self).__states__.move(self, new, message)

    def can_become(self, new: str) -> bool:
        states = type(self).__states__
        return states.can(getattr(self, states.attribute), new)
