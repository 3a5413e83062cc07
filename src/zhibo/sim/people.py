"""Partners, streamers (real-name identities), contracts, the blacklist, and viewers with their
devices. Injects ``blacklist_evasion``: blacklisted people back as new streamer accounts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from statistics import NormalDist

import numpy as np

from zhibo.sim.catalog import ROOT_WEIGHTS
from zhibo.sim.clock import DAY_MS, YEAR_MS, iso, midnight_ms
from zhibo.sim.identity import phones, resident_ids, social_credit_codes
from zhibo.sim.labels import Label
from zhibo.sim.rng import Streams
from zhibo.sim.scales import Scale
from zhibo.sim.vocab import (
    BLACKLIST_REASONS,
    GIVEN_CHARS,
    NICKNAME_SUFFIXES,
    NICKNAMES,
    PARTNER_CITIES,
    PARTNER_SUFFIXES,
    PARTNER_WORDS,
    ROOTS,
    SURNAMES,
)

PARTNER_KINDS = ("agency", "live_base", "service_provider")
STREAMER_STATUSES = ("active", "suspended", "banned")
ACTIVE, SUSPENDED, BANNED = 0, 1, 2
#: Broadcast styles: which daily slots a streamer uses.
STYLE_DAY, STYLE_EVENING, STYLE_BOTH, STYLE_OVERNIGHT = 0, 1, 2, 3
_NORMAL = NormalDist()
#: Blacklist device values live far above viewer device values (distinct hashed ids).
BLACKLIST_DEVICE_BASE = 1 << 40


@dataclass
class People:
    partner_kind: np.ndarray
    partner_names: list[str]
    partner_codes: list[str]
    partner_created: np.ndarray
    # Streamers, index = streamer_id - 1.
    display_names: list[str]
    real_names: list[str]
    id_numbers: list[str]
    phones: list[str]
    birth_day: np.ndarray  # days since epoch
    partner: np.ndarray  # partner index, -1 when independent
    status: np.ndarray
    virtual: np.ndarray
    followers: np.ndarray
    created: np.ndarray
    style: np.ndarray
    activity: np.ndarray
    root: np.ndarray
    root2: np.ndarray
    #: Day (0-based) a suspended streamer was suspended on, -1 otherwise.
    suspend_day: np.ndarray
    # Contracts, sorted by valid_from.
    contract_partner: np.ndarray
    contract_streamer: np.ndarray
    contract_share_bp: np.ndarray
    contract_valid_from: np.ndarray
    # Blacklist, sorted by listed_at.
    bl_id_numbers: list[str]
    bl_phones: list[str]
    bl_device_values: list[list[int]]
    bl_reasons: list[str]
    bl_listed: np.ndarray
    bl_expires: np.ndarray  # -1 when permanent
    labels: list[Label] = field(default_factory=list)

    @property
    def streamer_count(self) -> int:
        return len(self.followers)


def _names(rng: np.random.Generator, n: int) -> list[str]:
    surnames = rng.integers(0, len(SURNAMES), n)
    given_len = np.where(rng.random(n) < 0.7, 2, 1)
    out = []
    for i in range(n):
        given = "".join(GIVEN_CHARS[j] for j in rng.integers(0, len(GIVEN_CHARS), given_len[i]))
        out.append(SURNAMES[surnames[i]] + given)
    return out


def _birth_days(rng: np.random.Generator, start_ms: int, ages: np.ndarray) -> np.ndarray:
    """Birth day (days since epoch) of people ``ages`` (float years) old at ``start_ms``."""
    ms = start_ms - (ages * 365.25 * DAY_MS).astype(np.int64) - rng.integers(0, DAY_MS, len(ages))
    return ms // DAY_MS


def build_people(
    streams: Streams, scale: Scale, start: date, days: int, tactic_counts: dict[str, int]
) -> People:
    start_ms = midnight_ms(start)
    rng = streams.get("people.partners")
    n_partners = scale.partners
    kind = rng.choice(3, n_partners, p=[0.6, 0.25, 0.15])
    names: list[str] = []
    seen: set[str] = set()
    for k in kind:
        suffixes = PARTNER_SUFFIXES[PARTNER_KINDS[k]]
        while True:
            name = (
                PARTNER_CITIES[int(rng.integers(0, len(PARTNER_CITIES)))]
                + PARTNER_WORDS[int(rng.integers(0, len(PARTNER_WORDS)))]
                + suffixes[int(rng.integers(0, len(suffixes)))]
            )
            if name in seen and rng.random() < 0.5:
                name = name[:2] + PARTNER_WORDS[int(rng.integers(0, len(PARTNER_WORDS)))] + name[2:]
            if name not in seen:
                seen.add(name)
                names.append(name)
                break
    codes = social_credit_codes(rng, n_partners)
    age_years = np.where(
        kind == 1, 0.5 + 3 * rng.random(n_partners), 1 + 7 * rng.random(n_partners)
    )
    partner_created = (start_ms - age_years * YEAR_MS).astype(np.int64)
    order = np.argsort(partner_created, kind="stable")
    kind, partner_created = kind[order], partner_created[order]
    names = [names[i] for i in order]
    codes = [codes[i] for i in order]
    partner_size = rng.pareto(1.2, n_partners) + 1.0

    # Streamers and the blacklisted people outside the streamer table.
    rng = streams.get("people.streamers")
    n = scale.streamers
    n_evasion = min(tactic_counts["blacklist_evasion"], max(0, n // 10))
    n_banned = max(2, round(0.015 * n))
    n_external = n_evasion + max(3, round(0.01 * n))
    total = n + n_external
    ages = 18 + 42 * rng.beta(1.6, 3.5, total)
    teen = rng.random(total) < 0.02
    ages = np.where(teen, 16 + 1.9 * rng.random(total), ages)
    birth_day = _birth_days(rng, start_ms, ages)
    male = rng.random(total) < 0.35
    real_names = _names(rng, total)
    id_numbers = resident_ids(rng, birth_day.astype("datetime64[D]"), male)
    # Resident ID numbers are unique per person: redraw the rare collision.
    while len(set(id_numbers)) < total:
        seen_ids: set[str] = set()
        for i, value in enumerate(id_numbers):
            if value in seen_ids:
                id_numbers[i] = resident_ids(
                    rng, birth_day[i : i + 1].astype("datetime64[D]"), male[i : i + 1]
                )[0]
            seen_ids.add(id_numbers[i])
    phone_list = phones(rng, total)

    # Log-normal followers from stratified quantiles: the heavy tail is there in every run.
    quantiles = (rng.permutation(n) + rng.random(n)) / n
    z = np.array([_NORMAL.inv_cdf(q) for q in np.clip(quantiles, 1e-6, 1 - 1e-6)])
    followers = np.minimum(3000 * np.exp(2.2 * z), 5e7).astype(np.int64)
    created_age = (7 * DAY_MS + 5 * YEAR_MS * rng.beta(1.2, 2.5, n)).astype(np.int64)
    created = start_ms - created_age
    status = np.zeros(n, dtype=np.int64)
    # Evasion accounts are the last n_evasion rows (before sorting), banned ones the first.
    evasion = np.zeros(n, dtype=bool)
    evasion[n - n_evasion :] = True
    status[:n_banned] = BANNED
    # Sanctions hit small and mid-size accounts far more often than the stars.
    followers[:n_banned] = rng.lognormal(np.log(2000), 1.2, n_banned).astype(np.int64)
    created[:n_banned] = start_ms - (YEAR_MS + 3 * YEAR_MS * rng.random(n_banned)).astype(np.int64)
    ev_idx = np.flatnonzero(evasion)
    created[ev_idx] = start_ms - (3 * DAY_MS + 57 * DAY_MS * rng.random(n_evasion)).astype(np.int64)
    followers[ev_idx] = rng.lognormal(np.log(800), 1.0, n_evasion).astype(np.int64)
    regular = np.flatnonzero(
        (status == ACTIVE) & ~evasion & (followers < np.quantile(followers, 0.95))
    )
    suspend_day = np.full(n, -1, dtype=np.int64)
    if days >= 2:
        suspended = regular[rng.random(len(regular)) < 0.02]
        status[suspended] = SUSPENDED
        suspend_day[suspended] = rng.integers(1, days, len(suspended))

    has_partner = rng.random(n) < np.where(followers > np.quantile(followers, 0.95), 0.95, 0.8)
    partner = np.where(
        has_partner, rng.choice(n_partners, n, p=partner_size / partner_size.sum()), -1
    )
    # A streamer joins a partner after both exist.
    partner_ok = partner < 0
    partner_ok |= partner_created[np.maximum(partner, 0)] < start_ms - 2 * DAY_MS
    partner = np.where(partner_ok, partner, -1)
    virtual = (rng.random(n) < 0.03) & ~teen[:n]
    at_base = (partner >= 0) & (kind[np.maximum(partner, 0)] == 1)
    u = rng.random(n)
    overnight_p = np.where(at_base, 0.35, 0.05)
    style = np.where(
        u < overnight_p,
        STYLE_OVERNIGHT,
        np.where(
            u < overnight_p + 0.12,
            STYLE_DAY,
            np.where(u < overnight_p + 0.42, STYLE_BOTH, STYLE_EVENING),
        ),
    )
    rank = np.argsort(np.argsort(followers)) / max(1, n - 1)
    activity = np.clip(0.25 + 0.45 * rank + 0.2 * rng.random(n), 0.2, 0.92)
    root = rng.choice(len(ROOTS), n, p=ROOT_WEIGHTS / ROOT_WEIGHTS.sum())
    root2 = rng.integers(0, len(ROOTS), n)

    nick = rng.integers(0, len(NICKNAMES), n)
    suffix = rng.integers(0, len(NICKNAME_SUFFIXES), n)
    digits = np.where(rng.random(n) < 0.3, rng.integers(1, 100, n), 0)
    display = [
        NICKNAMES[nick[i]] + NICKNAME_SUFFIXES[suffix[i]] + (str(digits[i]) if digits[i] else "")
        for i in range(n)
    ]

    # Blacklist entries: every banned streamer, plus people who never appear as streamers.
    ext = np.arange(n, total)
    bl_person = np.concatenate([np.arange(n_banned), ext])
    n_bl = len(bl_person)
    listed = np.empty(n_bl, dtype=np.int64)
    listed[:n_banned] = created[:n_banned] + (
        (start_ms - 5 * DAY_MS - created[:n_banned]) * rng.uniform(0.3, 1.0, n_banned)
    ).astype(np.int64)
    listed[n_banned:] = start_ms - (90 * DAY_MS + 2.5 * YEAR_MS * rng.random(n_external)).astype(
        np.int64
    )
    reasons = list(BLACKLIST_REASONS)
    bl_reason = [reasons[int(i)] for i in rng.integers(0, len(reasons), n_bl)]
    permanent = rng.random(n_bl) < 0.5
    expires = listed + ((1 + 4 * rng.random(n_bl)) * YEAR_MS).astype(np.int64)
    # Evasion sources' listings are still in force.
    expires[n_banned : n_banned + n_evasion] = -1
    expires = np.where(permanent, -1, expires)
    device_counts = rng.integers(1, 4, n_bl)
    device_values = np.arange(int(device_counts.sum()), dtype=np.int64) + BLACKLIST_DEVICE_BASE
    splits = np.cumsum(device_counts)[:-1]
    bl_devices = [list(map(int, part)) for part in np.split(device_values, splits)]

    # Evasion: the new account reuses the blacklisted person's ID number, phone, or both.
    labels: list[Label] = []
    evasion_variant: list[str] = []
    for j, s in enumerate(ev_idx):
        source = n + j
        u_v = rng.random()
        variant = "id_number" if u_v < 0.5 else "phone" if u_v < 0.8 else "id_number+phone"
        if "id_number" in variant:
            id_numbers[s] = id_numbers[source]
            birth_day[s] = birth_day[source]
            real_names[s] = real_names[source]
        if "phone" in variant:
            phone_list[s] = phone_list[source]
        evasion_variant.append(variant)

    # Ids follow account creation.
    order = np.lexsort((rng.random(n), created))
    new_index = np.empty(n, dtype=np.int64)
    new_index[order] = np.arange(n)

    def sort_list(values: list[str]) -> list[str]:
        return [values[i] for i in order]

    contracted = np.flatnonzero(partner[order] >= 0)
    s_created = created[order]
    s_partner = partner[order]
    c_from = np.maximum(s_created[contracted], partner_created[s_partner[contracted]])
    c_from = c_from + ((start_ms - DAY_MS - c_from) * rng.random(len(contracted)) * 0.5).astype(
        np.int64
    )
    c_order = np.lexsort((contracted, c_from))

    bl_order = np.lexsort((np.arange(n_bl), listed))
    bl_entry_of = np.empty(n_bl, dtype=np.int64)
    bl_entry_of[bl_order] = np.arange(n_bl)
    for j, s in enumerate(ev_idx):
        entry = int(bl_entry_of[n_banned + j])
        variant = evasion_variant[j]
        matched = variant.split("+")
        labels.append(
            Label(
                tactic="blacklist_evasion",
                entity_type="streamer",
                entity_id=int(new_index[s]) + 1,
                window_start_ms=int(created[s]),
                detail={
                    "blacklist_entry_id": entry + 1,
                    "matched": matched,
                    "listed_at": iso(int(listed[n_banned + j])),
                    "reason": bl_reason[n_banned + j],
                },
            )
        )

    return People(
        partner_kind=kind,
        partner_names=names,
        partner_codes=codes,
        partner_created=partner_created,
        display_names=sort_list(display),
        real_names=sort_list(real_names[:n]),
        id_numbers=sort_list(id_numbers[:n]),
        phones=sort_list(phone_list[:n]),
        birth_day=birth_day[:n][order],
        partner=s_partner,
        status=status[order],
        virtual=virtual[order],
        followers=followers[order],
        created=s_created,
        style=style[order],
        activity=activity[order],
        root=root[order],
        root2=root2[order],
        suspend_day=suspend_day[order],
        contract_partner=s_partner[contracted][c_order],
        contract_streamer=contracted[c_order],
        contract_share_bp=(rng.integers(10, 51, len(contracted)) * 100)[c_order],
        contract_valid_from=c_from[c_order],
        bl_id_numbers=[id_numbers[int(bl_person[i])] for i in bl_order],
        bl_phones=[phone_list[int(bl_person[i])] for i in bl_order],
        bl_device_values=[bl_devices[i] for i in bl_order],
        bl_reasons=[bl_reason[i] for i in bl_order],
        bl_listed=listed[bl_order],
        bl_expires=expires[bl_order],
        labels=labels,
    )


# ---------------------------------------------------------------------------------------------
# Viewers


@dataclass
class AccountGroup:
    """Accounts a tactic needs (rings, farms, hired hands), created before the viewers table.

    ``member_devices[i]`` lists local device numbers (0..n_devices-1) of member ``i``; members
    sharing a number share the device. ``member_ip`` gives each member's local IP number."""

    key: str
    created: np.ndarray
    verified: bool
    n_devices: int
    member_devices: list[list[int]]
    n_ips: int
    member_ip: np.ndarray
    #: One shared delivery address for the whole group (a brushing ring).
    shared_address: bool = False
    # Filled in by build_viewers.
    members: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    devices: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    ips: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    address: int = -1


@dataclass
class Viewers:
    created: np.ndarray
    verified: np.ndarray
    minor: np.ndarray
    birth_day: np.ndarray  # -1 when unknown
    # viewer_devices rows, sorted by (viewer, device).
    vd_viewer: np.ndarray
    vd_device: np.ndarray
    #: First viewer_devices row of each viewer and how many it has.
    device_offset: np.ndarray
    device_count: np.ndarray
    device_total: int
    home_ip: np.ndarray
    ip_total: int
    #: First IP number of the shared mobile-network pool and its size.
    mobile_ip_base: int
    mobile_ip_count: int
    address: np.ndarray
    address_total: int
    #: Sampling weight as an ordinary viewer (0 for tactic accounts).
    weight: np.ndarray
    like_prop: np.ndarray
    comment_prop: np.ndarray
    buy_prop: np.ndarray
    gift_prop: np.ndarray

    @property
    def count(self) -> int:
        return len(self.created)


def build_viewers(
    streams: Streams, scale: Scale, start: date, groups: list[AccountGroup]
) -> Viewers:
    start_ms = midnight_ms(start)
    rng = streams.get("people.viewers")
    n = scale.viewers
    created = (start_ms - DAY_MS - 6 * YEAR_MS * rng.beta(1.3, 2.5, n)).astype(np.int64)
    minor = rng.random(n) < 0.03
    verified = np.where(minor, rng.random(n) < 0.7, rng.random(n) < 0.72)
    adult_age = 18 + 52 * rng.beta(1.8, 3.5, n)
    minor_age = 12 + 5.9 * rng.random(n)
    birth_day = _birth_days(rng, start_ms, np.where(minor, minor_age, adult_age))
    birth_day = np.where(verified, birth_day, -1)
    # A minor's account is at most as old as the minor is past their tenth birthday.
    ten = (birth_day + int(10 * 365.25)) * DAY_MS
    created = np.where(minor & verified, np.maximum(created, ten), created)

    n_dev = rng.choice([1, 2, 3], n, p=[0.6, 0.3, 0.1])
    device_owner = np.repeat(np.arange(n), n_dev)
    device_of_row = np.arange(len(device_owner))
    first_row = np.cumsum(n_dev) - n_dev
    # Families: a few viewers share a device (and a home address and IP) with another viewer.
    family = np.flatnonzero(rng.random(n) < 0.02)
    partner_of = rng.integers(0, n, len(family))
    device_of_row[first_row[family]] = first_row[partner_of]
    address = np.arange(n)
    address[family] = partner_of
    home_ip = np.arange(n)
    home_ip[family] = partner_of
    device_total = len(device_owner)
    mobile_ip_base, mobile_ip_count = n, max(100, n // 4)
    ip_total = n + mobile_ip_count
    address_total = n

    g_created = [created]
    g_verified = [verified]
    g_minor = [minor]
    g_birth = [birth_day]
    rows_viewer = [device_owner]
    rows_device = [device_of_row]
    g_ip = [home_ip]
    g_address = [address]
    next_viewer = n
    for group in groups:
        k = len(group.created)
        members = np.arange(next_viewer, next_viewer + k)
        next_viewer += k
        group_devices = np.arange(device_total, device_total + group.n_devices)
        device_total += group.n_devices
        group_ips = np.arange(ip_total, ip_total + group.n_ips)
        ip_total += group.n_ips
        if group.shared_address:
            group_address = np.full(k, address_total)
            address_total += 1
        else:
            group_address = np.arange(address_total, address_total + k)
            address_total += k
        g_created.append(group.created.astype(np.int64))
        g_verified.append(np.full(k, group.verified))
        g_minor.append(np.zeros(k, dtype=bool))
        g_birth.append(
            np.where(
                group.verified,
                _birth_days(rng, start_ms, 19 + 25 * rng.random(k)),
                -1,
            )
        )
        for i, local in enumerate(group.member_devices):
            rows_viewer.append(np.full(len(local), members[i]))
            rows_device.append(group_devices[np.array(local, dtype=np.int64)])
        g_ip.append(group_ips[group.member_ip])
        g_address.append(group_address)
        group.members = members
        group.devices = group_devices
        group.ips = group_ips
        group.address = int(group_address[0]) if k else -1

    created_all = np.concatenate(g_created)
    total = len(created_all)
    # Ids follow account creation; internal numbers are re-indexed to id - 1.
    order = np.lexsort((rng.random(total), created_all))
    new_index = np.empty(total, dtype=np.int64)
    new_index[order] = np.arange(total)
    for group in groups:
        group.members = new_index[group.members]
    vd_viewer = new_index[np.concatenate(rows_viewer)]
    vd_device = np.concatenate(rows_device)
    vd_order = np.lexsort((vd_device, vd_viewer))
    vd_viewer, vd_device = vd_viewer[vd_order], vd_device[vd_order]
    # A viewer listed twice on one device (a family pair drawn twice) keeps one row.
    keep = np.r_[True, (vd_viewer[1:] != vd_viewer[:-1]) | (vd_device[1:] != vd_device[:-1])]
    vd_viewer, vd_device = vd_viewer[keep], vd_device[keep]
    device_count = np.bincount(vd_viewer, minlength=total)
    device_offset = np.cumsum(device_count) - device_count

    weight = np.zeros(total)
    weight[new_index[:n]] = rng.lognormal(0.0, 1.0, n)

    def props(sigma: float, mu: float = 0.0) -> np.ndarray:
        values = np.ones(total)
        values[new_index[:n]] = rng.lognormal(mu, sigma, n)
        return values

    like_prop = props(0.8)
    comment_prop = props(1.0)
    buy_prop = props(0.7)
    gift_prop = props(1.5, -0.5)
    return Viewers(
        created=created_all[order],
        verified=np.concatenate(g_verified)[order],
        minor=np.concatenate(g_minor)[order],
        birth_day=np.concatenate(g_birth)[order],
        vd_viewer=vd_viewer,
        vd_device=vd_device,
        device_offset=device_offset,
        device_count=device_count,
        device_total=device_total,
        home_ip=np.concatenate(g_ip)[order],
        ip_total=ip_total,
        mobile_ip_base=mobile_ip_base,
        mobile_ip_count=mobile_ip_count,
        address=np.concatenate(g_address)[order],
        address_total=address_total,
        weight=weight,
        like_prop=like_prop,
        comment_prop=comment_prop,
        buy_prop=buy_prop,
        gift_prop=gift_prop,
    )


__all__ = [
    "ACTIVE",
    "BANNED",
    "SUSPENDED",
    "AccountGroup",
    "People",
    "Viewers",
    "build_people",
    "build_viewers",
]
