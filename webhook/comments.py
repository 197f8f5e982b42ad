"""The bodies of the deployer's pull request comments: pure functions of job records.

Owns: the hidden markers that find a comment again, the deployment table of a merge, and
the preview plan with collapsed diffs, cut to fit GitHub's 65,536-character limit; and the
escaping of every text a repository, a PR or a tool wrote (messages, app and object names,
diffs): it is shown as written, never as markup, so it cannot inject HTML, notify people
with @mentions, break out of its cell or fence, or fake our marker. Split from
``reporter.py`` because rendering needs no I/O and is tested on its own.
Must not touch: GitHub, the queue, the cluster.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from webhook.github_comments import MAX_COMMENT
from webhook.model import Job, JobState
from webhook.objects import Action
from webhook.queue.audit import Approval
from webhook.text import cut

DEPLOY_MARKER = "<!-- webhook-deployer -->"
PREVIEW_MARKER = "<!-- webhook-deployer:preview -->"
#: Room kept for the text around the diffs when sharing the limit between apps.
_FRAME = 4000

_RESULT = {
    JobState.QUEUED: "⏳ queued",
    JobState.RUNNING: "🔄 syncing",
    JobState.SUCCEEDED: "✅ deployed",
    JobState.FAILED: "❌ failed",
    JobState.SUPERSEDED: "⏭️ superseded",
    JobState.OUT_OF_SYNC: "✋ awaiting approval",
}


#: Joins ``@`` to the name invisibly, so GitHub sees no mention and notifies nobody.
ZWJ = "\u200d"
#: Markdown's inline syntax (emphasis, code, links, images, tables, strikethrough, refs).
_INLINE = re.compile(r"([\\`*_\[\]|~#])")
#: What starts a block (heading, quote, list, rule) when it opens a line.
_BLOCK_START = re.compile(r"^(\d*)([+=.)-])")
#: What GitHub turns into a link, and a link to an issue into a cross-reference on that
#: issue's timeline ("mentioned this"), in any repository: ``https://github.com/o/r/
#: issues/1``, ``www.…``, and the ``GH-123`` form of ``#123`` (``#`` is escaped already).
_AUTOLINK = re.compile(r"(?i)(?<![a-z0-9])(?:([a-z][a-z0-9+.-]*:/)(/)|(www)(\.)|(gh)(-\d))")


def _line(text: str) -> str:
    """One line of visible characters: whitespace folded, control and format characters
    (bidirectional overrides, zero-width ones) dropped so none can disguise the text."""
    return "".join(ch for ch in " ".join(text.split()) if ch.isprintable())


def escape(text: str) -> str:
    """Untrusted text as one inert Markdown line: shown as written, never as markup.

    HTML is written as entities (no ``<img>``, no ``<!--`` to fake or hide a marker), every
    inline Markdown character is backslash-escaped, and each ``@`` carries a zero-width
    joiner so no mention notifies anyone; so does every URL's ``//``, ``www.`` and ``GH-``,
    so no link is made and no other issue hears of the comment. Newlines fold into spaces.
    """
    flat = _line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    flat = _INLINE.sub(r"\\\1", flat)
    flat = _BLOCK_START.sub(r"\1\\\2", flat)
    flat = _AUTOLINK.sub(lambda found: ZWJ.join(filter(None, found.groups())), flat)
    return flat.replace("@", "@" + ZWJ)


def plain_text(text: str) -> str:
    """Untrusted text for a plain-text field (a commit status description): one line, no
    angle brackets a consumer could take for HTML, and no @mention that notifies."""
    flat = _line(text).replace("<", "\u2039").replace(">", "\u203a")
    return flat.replace("@", "@" + ZWJ)


def fenced(text: str, info: str = "") -> str:
    """``text`` in a code fence it cannot close (the fence is longer than any run of
    backticks in it), with ``<!--`` broken by a zero-width joiner so no marker hides in it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    inert = text.replace("<!--", "<!" + ZWJ + "--")
    return f"{fence}{info}\n{inert.rstrip(chr(10))}\n{fence}"


def _cell(text: str, limit: int = 300) -> str:
    """Markdown table cell: one escaped line, bounded (cut before escaping, so an escape
    or an entity is never cut in half)."""
    flat = _line(text)
    return escape(cut(flat, limit))


def _link(job: Job, public_url: str | None) -> str:
    return f"[job {job.id}]({public_url}/jobs/{job.id})" if public_url else f"job {job.id}"


def _changes(job: Job) -> str:
    result = job.result or {}
    counts = [
        (len(result.get(key) or ()), word)
        for key, word in (
            (Action.CREATED, "created"),
            (Action.CONFIGURED, "changed"),
            (Action.PRUNED, "pruned"),
        )
    ]
    parts = [f"{n} {word}" for n, word in counts if n]
    if hooks := result.get("hooks"):
        parts.append(f"{len(hooks)} hooks run")
    if parts:
        return ", ".join(parts)
    return "no changes" if job.state is JobState.SUCCEEDED else "—"


def deployment_comment(
    number: int,
    jobs: Sequence[Job],
    public_url: str | None,
    approvals: Mapping[int, Sequence[Approval]] | None = None,
) -> str:
    """The table of the deployments of PR ``number``'s merge, one row per app; below it,
    what awaits approval and how to give it, and who approved what (``approvals`` by job)."""
    lines = [
        DEPLOY_MARKER,
        f"### Deployments of #{number}",
        "",
        "| app | commit | result | changes | link |",
        "| --- | --- | --- | --- | --- |",
    ]
    for job in sorted(jobs, key=lambda j: j.app):
        result = f"{_RESULT[job.state]}: {job.message}" if job.message else _RESULT[job.state]
        lines.append(
            f"| {_cell(job.app)} | `{job.commit[:7]}` | {_cell(result)} "
            f"| {_cell(_changes(job))} | {_link(job, public_url)} |"
        )
    notes = _waiting(jobs, public_url) + _approved(jobs, approvals or {})
    if notes:
        lines += ["", *notes]
    return _fit("\n".join(lines) + "\n")


def _waiting(jobs: Sequence[Job], public_url: str | None) -> list[str]:
    """For each plan awaiting approval: what waits, and the two ways to approve it."""
    lines = []
    for job in sorted(jobs, key=lambda j: j.app):
        if job.state is not JobState.OUT_OF_SYNC:
            continue
        app = _cell(job.app, 63)
        button = (
            f" or with the Approve button on [job {job.id}]({public_url}/jobs/{job.id})"
            if public_url
            else ""
        )
        lines.append(
            f"✋ **{app}** waits for approval of `{job.commit[:7]}`: someone with write access "
            f"approves it by commenting `/deploy approve {job.app}`{button}."
        )
    return lines


def _who(who: str) -> str:
    """A GitHub login as ``@login`` (escaped later, so it notifies nobody); a token as is."""
    return who if who.startswith("token:") else "@" + who


def _approved(jobs: Sequence[Job], approvals: Mapping[int, Sequence[Approval]]) -> list[str]:
    """One line per approval of these jobs, oldest first (the audit trail, in the PR)."""
    seen: dict[int, Approval] = {}
    for job in jobs:
        for approval in approvals.get(job.id, ()):
            seen[approval.id] = approval
    lines = []
    for approval in sorted(seen.values(), key=lambda a: a.id):
        when = datetime.fromtimestamp(approval.at, UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines.append(
            f"✔️ **{_cell(approval.app, 63)}** `{approval.commit[:7]}` approved by "
            f"{escape(_who(approval.who))} via {approval.how}, {when}: job {approval.job_id}"
        )
    return lines


def preview_comment(
    number: int, jobs: Sequence[Job], public_url: str | None, *, limit: int = MAX_COMMENT
) -> str:
    """Each app's plan for PR ``number`` with its diff collapsed, all within ``limit``."""
    ordered = sorted(jobs, key=lambda j: j.app)
    head = [
        PREVIEW_MARKER,
        f"### Preview of #{number}",
        "",
        "What merging would change in the cluster (server-side dry run; nothing applied).",
        "",
    ]
    budget = max(200, (limit - _FRAME) // max(1, len(ordered)))
    sections = []
    for job in ordered:
        sha = job.commit[:7]
        state = _RESULT[job.state] if job.state is not JobState.SUCCEEDED else "📋 plan"
        section = [f"#### {_cell(job.app)} at `{sha}`: {state}", "", _cell(job.message, 1000), ""]
        hooks = [h for h in (job.result or {}).get("hooks") or () if isinstance(h, dict)]
        if hooks:
            listed = ", ".join(f"{h.get('phase')} {h.get('object')}" for h in hooks)
            section += [f"Hooks (run on merge, not in the diff): {_cell(listed)}", ""]
        diff = str((job.result or {}).get("diff") or "")
        if diff:
            shown = diff if len(diff) <= budget else diff[:budget] + "\n… (cut to fit)\n"
            section += [
                "<details><summary>diff</summary>",
                "",
                fenced(shown, "diff"),
                "</details>",
                "",
            ]
        section.append(_link(job, public_url))
        sections.append("\n".join(section))
    return _fit("\n".join(head) + "\n\n".join(sections) + "\n", limit)


def _fit(body: str, limit: int = MAX_COMMENT) -> str:
    if len(body) <= limit:
        return body
    tail = "\n… (cut to fit GitHub's comment limit)\n"
    return body[: limit - len(tail)] + tail
