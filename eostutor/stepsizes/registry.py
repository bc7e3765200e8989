"""The one registry of step-size rules: register a class once, use it by name everywhere.

:func:`register` adds a :class:`~eostutor.stepsizes.base.Rule` subclass to :data:`RULES` under its
``name``. Everything that offers rules by name reads this registry: :func:`make_rule`, ``python -m
eostutor run --rule``, the widgets' rule menus and the named experiments; legends come from the class's
``label`` (:func:`~eostutor.stepsizes.base.rule_label`). Adding a rule touches no other file::

    from eostutor import stepsizes

    @stepsizes.register
    class HalfConstant(stepsizes.Constant):
        name = "half"
        label = "GD (half)"
"""

from __future__ import annotations

import inspect
from typing import Any

from eostutor._validate import check_choice
from eostutor.stepsizes.base import PARAM_SYMBOLS, Rule

__all__ = ["RULES", "register", "make_rule", "rule_names", "eta_symbol"]

#: name -> rule class, in registration order.
RULES: dict[str, type[Rule]] = {}


def register(cls: type[Rule]) -> type[Rule]:
    """Class decorator: add a rule class to :data:`RULES` under its ``name`` and return it unchanged.

    The class must define its own ``name`` (a subclass that inherited one would replace its parent) and a
    ``label``; ``eta_param``, when set, must be one of its constructor arguments. Defining the same class
    again (re-running a notebook cell) replaces the earlier definition; another class under a taken name
    is refused.

    Raises:
        ValueError: For a class that is not a Rule, has no name of its own, or names a taken entry.

    >>> from eostutor.stepsizes import Constant
    >>> @register
    ... class Tenth(Constant):
    ...     name = "tenth-doc"
    ...     label = "GD/10"
    >>> make_rule("tenth-doc", eta=0.5).eta, RULES.pop("tenth-doc") is Tenth
    (0.5, True)
    """
    if not (isinstance(cls, type) and issubclass(cls, Rule)):
        raise ValueError(f"register takes a subclass of eostutor.stepsizes.Rule, got {cls!r}")
    name = cls.__dict__.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{cls.__name__} must define its own name (the id used by make_rule), e.g. name = 'half'")
    if not isinstance(cls.label, str) or not cls.label:
        raise ValueError(f"{cls.__name__} must define a label (the legend text)")
    params = [p.name for p in cls._signature()]
    if cls.eta_param is not None and cls.eta_param not in params:
        raise ValueError(f"{cls.__name__}.eta_param = {cls.eta_param!r} is not one of its arguments: {params}")
    old = RULES.get(name)
    if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(f"rule name {name!r} is taken by {old.__module__}.{old.__qualname__}; choose another name")
    RULES[name] = cls
    return cls


def make_rule(name: str, *, eta: float | None = None, **kwargs: Any) -> Rule:
    """Build a registered rule by name.

    Args:
        name: A key of :data:`RULES` (``python -m eostutor list`` shows them).
        eta: The step size the rule's η control means (its ``eta_param``: ``eta`` for constant GD, the
            first step ``eta0`` for the line searches, the ``cap`` of NLS-ub, ...). Refused for rules that
            choose every step themselves.
        **kwargs: Other constructor arguments of that rule.

    Returns:
        The rule.

    Raises:
        ValueError: For an unknown name, unknown or missing arguments (naming them), or invalid values.

    Example:
        >>> make_rule("nls-ub", cap=10)
        NLSUpperBounded(c=0.0001, delta=0.5, eta0=1.0, cap=10.0)
        >>> make_rule("nls", eta=0.3).eta0
        0.3
    """
    check_choice("rule", name, RULES)
    cls = RULES[name]
    if eta is not None:
        if cls.eta_param is None:
            raise ValueError(f"rule {name!r} chooses every step size itself: it takes no eta")
        if cls.eta_param != "eta" and cls.eta_param in kwargs:
            raise ValueError(f"give rule {name!r} either eta or {cls.eta_param} (eta sets {cls.eta_param}), not both")
        kwargs[cls.eta_param] = eta
    signature = cls._signature()
    valid = [p.name for p in signature]
    unknown = [key for key in kwargs if key not in valid]
    if unknown:
        raise ValueError(f"unknown argument(s) for rule {name!r}: {', '.join(unknown)}; "
                         f"valid arguments: {', '.join(valid)}")
    missing = [p.name for p in signature if p.default is inspect.Parameter.empty and p.name not in kwargs]
    if missing:
        raise ValueError(f"rule {name!r} needs argument(s): {', '.join(missing)}")
    return cls(**kwargs)


def rule_names(num_classes: int | None = None, *, classifier: bool | None = None) -> tuple[str, ...]:
    """Registered rule names, in registration order; with ``classifier=False`` (or ``num_classes=None``
    and ``classifier`` not given) the rules that need K from the problem are left out.

    >>> "warmup" in rule_names(10), "warmup" in rule_names(None)
    (True, False)
    """
    has_k = (num_classes is not None) if classifier is None else bool(classifier)
    return tuple(n for n, cls in RULES.items() if has_k or not cls.needs_num_classes)


def eta_symbol(name: str) -> str:
    """How the η control reads for a rule: ``"η"``, ``"η₀"``, ``"η cap"``, ...; ``""`` when unused.

    >>> eta_symbol("constant"), eta_symbol("nls"), eta_symbol("nls-ub"), eta_symbol("cdat")
    ('η', 'η₀', 'η cap', '')
    """
    param = RULES[check_choice("rule", name, RULES)].eta_param
    if param is None:
        return ""
    symbol = PARAM_SYMBOLS.get(param, param)
    return symbol if symbol.startswith("η") else f"η {symbol}"

