"""Writes schemas/<Kind>.schema.json. Edit here, run `python3 schemas/generate.py`,
and commit both; tests/integration/schemas.rs validates every --json output."""
import json, os
OUT = os.path.dirname(os.path.abspath(__file__))
BASE = "https://github.com/impermctl/impermctl/schemas/"

def envelope(kind, title, props, required, extra_defs=None):
    defs = dict(COMMON)
    if extra_defs: defs.update(extra_defs)
    p = {"api_version": {"const": "impermctl/v2"}, "kind": {"const": kind}}
    p.update(props)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": BASE + kind + ".schema.json",
        "title": title,
        "type": "object",
        "required": ["api_version", "kind"] + required,
        "additionalProperties": False,
        "properties": p,
        "$defs": defs,
    }

def obj(props, required=None, extra=False):
    o = {"type": "object", "properties": props, "additionalProperties": extra}
    o["required"] = list(props) if required is None else required
    return o

S = {"type": "string"}
U = {"type": "integer", "minimum": 0}
B = {"type": "boolean"}
NS = {"type": ["string", "null"]}
def arr(x): return {"type": "array", "items": x}
def ref(n): return {"$ref": "#/$defs/" + n}
ABS = {"type": "string", "pattern": "^/"}

COMMON = {
    "path": {"description": "An absolute logical path (as the system sees it).", "type": "string", "pattern": "^/"},
    "type": {"description": "What a declared path is: a directory or a file.", "enum": ["directory", "file"]},
    "severity": {"enum": ["info", "warning", "fatal"]},
    "verdict": {"enum": ["healthy", "warnings", "fatal", "rescue"]},
    "check": {"description": "A check name, as `verify --list` prints it and `--skip` takes it.", "type": "string", "pattern": "^[a-z0-9]+(-[a-z0-9]+)*$"},
    "finding": obj({"check": ref("check"), "severity": ref("severity"),
                    "path": {"type": ["string", "null"]}, "message": S, "remedy": S}),
    "writer": obj({"comm": S, "unit": NS}),
}

PATH_HEX = {"description": "The path's bytes in hex when they are not valid UTF-8 (`path` then has U+FFFD in their place).", "type": "string"}
WATCH_GROUP = obj({"path": ref("path"), "path_hex": PATH_HEX, "type": ref("type"), "suggest": S, "files": U, "bytes": U,
                   "first_seen": U, "last_seen": U, "writers": arr(ref("writer")), "approximate": B,
                   "paths": arr(S), "dirs": {**U, "description": "Baseline directories whose mode, owner or attributes changed (the reboot restores them; diff counts them as modified directories)."}}, required=["path", "type", "suggest", "files", "bytes", "first_seen", "last_seen", "writers", "approximate", "dirs"])
WATCH = obj({"backend": {"enum": ["fanotify", "inotify"]}, "fallback": {**NS, "description": "Why the watcher fell back, or null: why fanotify was not used (backend inotify), or why fanotify's content events come from its filesystem mark instead of a mark per directory."}, "pid": U, "since": U,
             "watched_directories": U, "overflows": U,
             "unwatched_directories": {"description": "Directories the inotify watch limit leaves unwatched (and everything below them); a periodic rescan covers them.", "type": "integer", "minimum": 0},
             "coverage": {"description": "What is not watched and why, when coverage is partial.", "type": "string"},
             "groups": arr(ref("watch_group"))},
            required=["backend", "fallback", "pid", "since", "watched_directories", "overflows", "groups"])

def entry_state():
    simple = [{"type": "object", "properties": {"state": {"const": s}}, "required": ["state"]} for s in ["bound", "symlinked", "missing", "not_persisted"]]
    return {"oneOf": simple + [
        obj({"state": {"const": "foreign"}, "source": S, "root": S}, required=["state", "source", "root"], extra=True),
        obj({"state": {"const": "wrong_link"}, "target": S}, required=["state", "target"], extra=True),
        obj({"state": {"const": "covered"}, "by": S}, required=["state", "by"], extra=True),
    ]}

OP = {"oneOf": [obj({"op": {"enum": ["create_source", "seed", "init_machine_id", "create_target", "link",
                                      "store_link", "restore_link", "copy_in", "save_copy", "keep_live", "complete_pending"]}}),
                obj({"op": {"enum": ["migrate", "detach"]}, "from": S}),
                obj({"op": {"const": "nothing_to_keep"}, "why": {"enum": ["only_directories", "in_source", "machine_id"]}}),
                obj({"op": {"const": "mount"}, "options": arr(S), "hides": B})]}
WHYS = ["already_bound", "already_linked", "link_in_place", "already_copied", "nothing_to_copy", "covered", "foreign", "deferred_owner"]
WHY = {"oneOf": [obj({"why": {"enum": ["already_bound", "already_linked"]}}, extra=True),
                 obj({"why": {"const": "foreign"}, "source": S, "root": S}, extra=True)]}
STEP = {"type": "object", "required": ["path", "type", "source", "action"],
        "properties": {"path": ref("path"), "type": ref("type"), "source": ref("path"),
                       "action": {"enum": ["do", "skip", "fail"]}, "ops": arr(ref("op")), "error": S,
                       "why": {"enum": WHYS}, "root": S, "by": S, "owner": S},
        "additionalProperties": False,
        "allOf": [
            {"if": {"properties": {"action": {"const": "do"}}}, "then": {"required": ["ops"]}},
            {"if": {"properties": {"action": {"const": "fail"}}}, "then": {"required": ["error"]}},
            {"if": {"properties": {"action": {"const": "skip"}}}, "then": {"required": ["why"]}},
        ]}

REFUSED = {"description": "Config entries refused for their errors (the command used the others): one item per error; `entry` is the entry, or the [[persistence]] block (`persistence[1]`) for an error in the block's own fields, whose entries are then each refused too, or the field of a bad [watch] value (`watch.warn_every`: ignored, its default used); `path` is the entry's path when it is valid; `file` is the config file (as given), `line`/`column` in it.",
           **arr(obj({"entry": S, "path": ref("path"), "file": S, "line": U, "column": U, "field": S, "message": S, "fix": S},
                     required=["entry", "file", "line", "column", "field", "message", "fix"]))}

OPEN_WRITER = obj({"pid": {**U, "description": "0: no process visible here holds the socket (listening)."}, "comm": S, "unit": S,
                   "file": {**S, "description": "The file it holds open for writing; with listening, the unix socket."},
                   "listening": {**B, "description": "It serves the unix socket `file` there (listening, or a bound datagram socket): a bind would hide it from its clients. Absent when false."}},
                  required=["pid", "comm", "file"])

docs = {}
docs["Verification"] = envelope("Verification", "impermctl verify --json", {
    "verdict": ref("verdict"), "notice": S, "findings": arr(ref("finding")),
    "ran": arr(ref("check")), "skipped": arr(ref("check")), "refused": REFUSED}, ["verdict", "findings", "ran", "skipped"])
docs["CheckList"] = envelope("CheckList", "impermctl verify --list --json", {
    "checks": arr(obj({"name": ref("check"), "severity": ref("severity"), "description": S}))}, ["checks"])
HIDDEN_MOUNTS = arr(obj({"path": ref("path"), "under": ref("path"), "instead": ref("path"), "what": S}, required=["path", "under", "instead", "what"]))

docs["Status"] = envelope("Status", "impermctl status --json", {
    "verdict": ref("verdict"), "notice": S, "findings": arr(ref("finding")),
    "entries": arr({"allOf": [obj({"path": ref("path"), "type": ref("type"), "source": ref("path"),
                                   "state": S, "source_fs": S, "root": S, "target": S, "advice": S,
                                   "hidden_mounts": dict(HIDDEN_MOUNTS, description="Filesystems mounted below this directory that its bind hides: what is written at `path` goes to `instead`; `impermctl boot` mounts them back on top. Absent when none.")},
                                  required=["path", "type", "source", "state"], extra=True), ref("entry_state")]}),
    "persisted": arr(obj({"path": ref("path"), "type": ref("type"), "root": ref("path"), "source": ref("path"),
                          "since": U, "declared": B, "copy": {"description": "Copied only, not bound (method = \"copy\").", "type": "boolean"},
                          "state": {"description": "What the live mount table says is there now.",
                                    "enum": ["bound", "foreign", "not_persisted", "missing"]}})),
    "refused": REFUSED,
    "watcher": {"oneOf": [{"type": "null"}, ref("watch")]},
    "watcher_running": {**B, "description": "False when the watcher that wrote `watcher` is gone: its counts are its last record; run `impermctl diff`."},
    "shadowed": dict(arr(obj({"mount_point": S, "paths": arr(S), "bytes": U})),
                     description="Data on the ephemeral root hidden under mount points (written into a directory or file before something was mounted over it), lost at the next reboot; `impermctl diff --shadowed` lists the same. Absent when none (or when status does not run as root)."),
    },
    ["verdict", "findings", "entries", "watcher"],
    {"entry_state": entry_state(), "watch": WATCH, "watch_group": WATCH_GROUP})
docs["BootPlan"] = envelope("BootPlan", "impermctl boot --dry-run --json", {
    "refused": B, "refusals": arr(ref("finding")), "unplanned": S, "steps": arr(ref("step")),
    "observed": {"type": "object", "description": "What the plan was made from, per path (for debugging; not a stable shape)."},
    "refused_entries": REFUSED},
    ["refused", "refusals", "steps"], {"op": OP, "step": STEP})
STEP_REPORT = {"type": "object", "required": ["path", "type", "source", "done", "outcome"],
               "properties": {"path": ref("path"), "type": ref("type"), "source": ref("path"),
                              "done": arr(ref("op")),
                              "outcome": {"enum": ["bound", "linked", "copied", "pending", "skipped", "failed"]},
                              "why": {"enum": WHYS}, "source_fs": S, "root": S, "by": S, "owner": S, "error": S,
                              "writers": arr(ref("open_writer"))},
               "additionalProperties": False}
docs["BootResult"] = envelope("BootResult", "impermctl boot --json", {
    "outcome": {"enum": ["ok", "partial", "refused", "rescue"]}, "duration_ms": {"type": "number", "minimum": 0},
    "findings": arr(ref("finding")), "steps": arr(ref("step_report")),
    "refused": REFUSED,
    "counts": obj({"bound": U, "linked": U, "skipped": U, "failed": U, "copied": U, "pending": U, "errors": U},
                  required=["bound", "linked", "skipped", "failed"]),
    "pending": arr(obj({"path": ref("path"), "type": ref("type"), "source": ref("path"),
                        "writers": arr(ref("open_writer")), "since": U, "saved": U}, required=["path", "type", "source", "writers", "since"])),
    "warnings": arr(S)}, ["outcome", "duration_ms", "findings"], {"op": OP, "step_report": STEP_REPORT, "open_writer": OPEN_WRITER})
CLASS = {"description": "important: a loss with a consequence; ordinary: a loss; regenerated: not a loss (the system recreates it).", "enum": ["important", "ordinary", "regenerated"]}
GROUP = obj({"path": S, "path_hex": PATH_HEX, "files": U, "dirs": U, "bytes": U, "new": U, "modified": U, "type": ref("type"),
             "writers": arr(ref("writer")), "class": CLASS,
             "consequence": S, "regenerated": S, "declared": S,
             "undeclared_copies": dict(arr(obj({"path": S, "path_hex": PATH_HEX, "source": S}, required=["path", "source"])),
                                       description="Files `impermctl persist` copied (method = \"copy\", to `source`) inside this group that the config does not declare yet: what is written there now is lost at the next boot unless the entry is added. Absent when none."),
             "replaced": dict(B, description="A file replaced by rename since the baseline (its inode differs from the baseline's, or the watcher heard a rename land on it): persist it with method = \"copy\" (a rename onto a bind-mounted file fails with EBUSY). Absent when not.")},
            required=["path", "files", "dirs", "bytes", "new", "modified", "type", "class"])
docs["Diff"] = envelope("Diff", "impermctl diff --json", {
    "root": S,
    "basis": {"oneOf": [obj({"method": {"const": "baseline"}, "created": {"type": "integer"}}),
                        obj({"method": {"const": "boot_time"}, "btime": {"type": "integer"}}),
                        obj({"method": {"const": "not_ephemeral"}, "reason": S})]},
    "source": {"description": "How the changed entries were found: a walk of the root (and why the watcher's list was not used), or the running watcher's list of changed paths.",
               "oneOf": [obj({"method": {"const": "walk"}, "reason": S}),
                         obj({"method": {"const": "watcher"}, "pid": U, "paths": U, "subtrees": U})]},
    "summary": obj({"loses_data": B, "groups": U, "files": U, "bytes": U, "entries_walked": {**U, "description": "Entries looked at: walked (source.method walk), or those the watcher's list named (source.method watcher: a few, not the tree)."}, "unreadable": U},
                   required=["loses_data", "groups", "files", "bytes", "entries_walked"]),
    "groups": arr(ref("group")),
    "items": arr(obj({"path": S, "path_hex": {"description": "The path's bytes in hex when it is not valid UTF-8.", "type": "string"},
                      "type": {"enum": ["directory", "file", "symlink", "fifo", "socket", "device", "unknown"]},
                      "change": {"enum": ["new", "modified", "unchanged"]}, "size": U, "class": CLASS},
                     required=["path", "type", "change", "size", "class"])),
    "unreadable": arr(obj({"path": S, "path_hex": PATH_HEX, "error": S}, required=["path", "error"])),
    "shadowed": arr({"type": "object"}), "orphans": arr({"type": "object"}), "refused": REFUSED,
    "ignored": dict(obj({"paths": arr(S), "changed": U}, required=["paths", "changed"]),
                    description="What plain diff left out under watch.ignore (not compared, lost at the next reboot all the same): the paths, and how many entries below them `diff --all` lists. Absent with --all (which compares them) and when the root is not ephemeral."),
    "moved_binds": dict(arr(obj({"path": S, "now_at": S, "source": S}, required=["path", "now_at", "source"])),
                        description="Declared entries not bound at their path whose persistent source is bound at another path now (a directory above them was renamed): what is written at `path` is lost at the next reboot. Absent when none."),
    "undeclared_binds": dict(arr(obj({"path": ref("path"), "path_hex": PATH_HEX, "source": ref("path"), "root": ref("path"), "type": ref("type"),
                                      "by": {"enum": ["persist", "boot", "other"], "description": "Who bound it: `impermctl persist`, `impermctl boot` (its entry since left the config; the next boot undoes it), or neither."},
                                      "nix": {"type": "string", "description": "The Nix line that declares it (with `root`)."}},
                                     required=["path", "source", "type", "by"])),
                             description="Binds from a persistence root live now that no config entry declares: the data stays in `source`, but the next boot does not bind it at `path` (counted in the exit code, not in `summary`). `root` and `nix` when an entry can declare it (`source` is `root` + `path`). Absent when none."),
    "hidden_mounts": dict(HIDDEN_MOUNTS, description="With --shadowed: filesystems mounted below a declared directory that its bind hides (what is written at `path` goes to `instead`; counted in the exit code). Absent when none."),
    "deleted_copies": dict(arr(ref("path")), description="method = \"copy\" files deleted after this boot put them in place: impermctl-sync.service moves their persistent copies aside to impermctl-kept within a second and at shutdown, so the deletion is kept (nothing is lost). Absent when none."),
    },
    ["root", "basis", "summary", "groups", "items", "unreadable"], {"group": GROUP})
PSTEP = obj({"path": ref("path"), "type": ref("type"), "root": ref("path"), "source": ref("path"),
             "action": {"enum": ["copy", "bind", "done"]},
             "method": {"description": "bind: bound over the path; copy: a file programs replace by rename, copied only.",
                        "enum": ["bind", "copy"]}, "stale_tmp": B, "entries": U, "bytes": U,
             "declared": B, "writers": arr(ref("writer")),
             "separated": dict(arr(obj({"path": ref("path"), "others": arr(ref("path")), "unfound": U},
                                       required=["path", "others", "unfound"])),
                               description="Files hard-linked from outside the path: two separate files once it is bound (`others`: their names outside, `unfound`: names not found). Absent when none."),
             "copied": {"type": "object"}, "nix": S, "toml": S},
            required=["path", "type", "root", "source", "action", "entries", "bytes", "declared", "nix", "toml"])
docs["Persist"] = envelope("Persist", "impermctl persist --json", {
    "dry_run": B, "paths": arr(PSTEP),
    "refused": arr(obj({"path": S, "reason": S, "writers": arr(ref("writer"))})), "refused_entries": REFUSED},
    ["dry_run", "paths", "refused"])

docs["SyncResult"] = envelope("SyncResult", "impermctl sync --json", {
    "paths": arr(obj({"path": ref("path"), "what": {"enum": ["copy", "pending"]},
                      "result": {"enum": ["saved", "unchanged", "no_live_file", "deleted", "failed"]}, "bytes": U, "error": S,
                      "kept": ref("path")},
                     required=["path", "what", "result"])), "refused": REFUSED}, ["paths"])

docs["Baseline"] = envelope("Baseline", "impermctl baseline --json", {
    "entries": U, "adopted": U, "fresh": B, "refused": REFUSED}, ["entries", "adopted", "fresh"])

for k, d in docs.items():
    with open(os.path.join(OUT, k + ".schema.json"), "w") as f:
        json.dump(d, f, indent=2); f.write("\n")
print(sorted(docs))
