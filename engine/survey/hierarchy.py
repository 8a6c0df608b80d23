"""The survey hierarchy as the spec declares it: which members each node of each level has (the
shared-zone rule lives here, once), and the linear form of a level's value in its items' values,
for `sapa synth`. levels.py computes the same levels over groups of respondents from these
members; both read the rules of `Survey.levels`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sapa.engine.spec import Level, Questionnaire, Survey, SurveyItem

Node = tuple[str, ...]  # the keys of one node of a level besides the group (unit or breakdown)


def counted(survey: Survey) -> list[str]:
    """The channels counted in the unit's total (and in its zones)."""
    return [q.name for q in survey.questionnaires if q.counts_in_total]


def zone_targets(survey: Survey) -> list[tuple[str, str, str]]:
    """(questionnaire, item, zone) for every zone an item counts for: its own zone, or, for an
    item of a shared zone, every zone of its questionnaire that is not shared."""
    targets = []
    for q in survey.questionnaires:
        own = sorted({i.zone for i in q.items if i.zone and i.zone not in survey.shared_zones})
        for item in q.items:
            if item.zone in survey.shared_zones:
                targets += [(q.name, item.name, z) for z in own]
            elif item.zone:
                targets.append((q.name, item.name, item.zone))
    return targets


def node_members(survey: Survey, level: Level) -> dict[Node, list[str]]:
    """Every node of `level` and the names of its members, as the spec declares them."""
    out: dict[Node, list[str]] = {}
    if level.name in ("criterion", "channel"):
        for q in survey.questionnaires:
            for item in q.items:
                node = (q.name, item.criterion) if level.name == "criterion" else (q.name,)
                member = item.name if level.name == "criterion" else item.criterion
                out.setdefault(node, [])
                if member not in out[node]:
                    out[node].append(member)
    elif level.name == "zone":
        for q, item, zone in zone_targets(survey):
            out.setdefault((q, zone), []).append(item)
    elif level.name == "unit":
        out[()] = list(survey.zones) if level.of == "zones" else counted(survey)
    else:  # unit_zone
        out.update({(zone,): counted(survey) for zone in survey.zones})
    return out


def required(survey: Survey, level: Level) -> dict[Node, int]:
    """For a weighted level whose missing members make it missing: how many weighted members
    each node needs (all of them); empty for any other level."""
    if level.rule != "weighted" or level.missing != "missing":
        return {}
    return {node: sum(level.weights.get(m, 0.0) > 0 for m in members)
            for node, members in node_members(survey, level).items()}


class NotLinear(ValueError):
    """A level whose value is no fixed linear function of its items' values (pooled)."""


class ItemWeights:
    """The weight of each item value in each level's value, counting only the items present in
    one view of a unit (all of it, or one region). `slots` are the unit's (questionnaire, item)
    pairs in the order of the values. Raises NotLinear for a pooled level (its weights depend
    on how many rate each item) and for a formula level."""

    def __init__(self, survey: Survey, slots: Sequence[tuple[Questionnaire, SurveyItem]],
                 present: np.ndarray) -> None:
        self.survey, self.slots, self.present = survey, slots, present
        self.targets = zone_targets(survey)

    def _combine(self, level: Level, parts: dict[str, np.ndarray | None]
                 ) -> np.ndarray | None:
        if level.rule in ("pooled", "formula"):
            raise NotLinear(f"the {level.name} level is {level.rule}")
        found = {m: p for m, p in parts.items() if p is not None}
        if level.rule == "mean":
            return np.mean(list(found.values()), axis=0) if found else None
        weights = {m: level.weights.get(m, 0.0) for m in found}
        if level.missing == "missing" and any(
                level.weights.get(m, 0.0) > 0 and p is None for m, p in parts.items()):
            return None
        total = sum(weights.values())
        if not total:
            return None
        return sum(w * found[m] for m, w in weights.items()) / total

    def _items(self, level: Level, keep: set[tuple[str, str]]) -> np.ndarray | None:
        """A level whose members are items: each item's own value (one slot)."""
        parts: dict[str, np.ndarray | None] = {}
        for k, (q, item) in enumerate(self.slots):
            if (q.name, item.name) in keep:
                unit = np.zeros(len(self.slots))
                unit[k] = 1.0
                parts[item.name] = unit if self.present[k] else None
        return self._combine(level, parts)

    def criterion(self, q: str, criterion: str) -> np.ndarray | None:
        keep = {(qq.name, i.name) for qq, i in self.slots
                if qq.name == q and i.criterion == criterion}
        return self._items(self.survey.level("criterion"), keep)

    def channel(self, q: str) -> np.ndarray | None:
        # criteria with a present item first, in their order: a mean sums in this order
        ordered = sorted(enumerate(self.slots), key=lambda s: not self.present[s[0]])
        criteria = dict.fromkeys(i.criterion for _, (qq, i) in ordered if qq.name == q)
        return self._combine(self.survey.level("channel"),
                             {c: self.criterion(q, c) for c in criteria})

    def zone(self, q: str, zone: str) -> np.ndarray | None:
        keep = {(qq, item) for qq, item, z in self.targets if qq == q and z == zone}
        return self._items(self.survey.level("zone"), keep)

    def unit_zone(self, zone: str) -> np.ndarray | None:
        return self._combine(self.survey.level("unit_zone"),
                             {q: self.zone(q, zone) for q in counted(self.survey)})

    def unit(self) -> np.ndarray | None:
        level = self.survey.level("unit")
        if level.of == "zones":
            return self._combine(level, {z: self.unit_zone(z) for z in self.survey.zones})
        return self._combine(level, {q: self.channel(q) for q in counted(self.survey)})
