#!/usr/bin/env bash
# Offline checks of the deployment examples, one line per file (and per external verifier):
#   - every YAML file under docker/k8s, and docker/compose.yaml when present, parses;
#   - each Kubernetes document has apiVersion, kind and metadata.name; the kustomization lists
#     every manifest (not the *.example.yaml ones) and nothing missing; names agree across files
#     (ConfigMap, Secret, Service selector and port);
#   - the ConfigMap's config.json is valid JSON (and passes `llmgate --check-config` when a
#     built binary is at hand: LLMGATE_BIN, else build/llmgate);
#   - the Deployment's probes reach /v1/health/detailed (readiness) and /health (liveness),
#     its security settings hold, and its grace period outlasts the preStop sleep plus the drain;
#   - docker/systemd/llmgate.service passes `systemd-analyze verify` (run against a scratch root
#     with stub executables, so llmgate need not be installed and no systemd need be running)
#     and a check of its sections and keys written here (all of it when systemd-analyze is
#     missing).
# Usage: scripts/check-deploy.sh [DIR]   DIR holds docker/ (default: this repository), so a
# modified copy can be checked. Exits 1 when anything is wrong.
# Missing tools come from Debian packages (python3-yaml; systemd for systemd-analyze), as
# scripts/deps.sh installs them; CHECK_DEPLOY_NO_INSTALL=1 installs nothing.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "${1:-${CHECK_DEPLOY_ROOT:-$repo}}" && pwd)

updated=""
apt_install() {
  [ -z "${CHECK_DEPLOY_NO_INSTALL:-}" ] || return 1
  command -v apt-get >/dev/null 2>&1 || return 1
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: $*"
  if [ -z "$updated" ]; then $sudo apt-get update -qq || return 1; updated=1; fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# PyYAML: Debian's python3-yaml lives in /usr/bin/python3's path, which another python3 first
# on PATH (pyenv, a venv) may not see.
python=""
for candidate in python3 /usr/bin/python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import yaml' 2>/dev/null; then
    python=$candidate
    break
  fi
done
if [ -z "$python" ]; then
  apt_install python3 python3-yaml || { echo "FAIL  python3 with PyYAML is needed (Debian: apt-get install python3-yaml)"; exit 1; }
  python=/usr/bin/python3
fi

if [ -f "$root/docker/systemd/llmgate.service" ] && ! command -v systemd-analyze >/dev/null 2>&1; then
  apt_install systemd || true   # without it: the key check below, and a "skipped" line
fi

bin=${LLMGATE_BIN:-$repo/build/llmgate}
exec "$python" - "$root" "$bin" "$repo" <<'PY'
import json, os, re, shutil, subprocess, sys, tempfile
import yaml

root, llmgate_bin, repo = sys.argv[1], sys.argv[2], sys.argv[3]
failed = False
READY_PATH, LIVE_PATH = "/v1/health/detailed", "/health"
DEFAULT_DRAIN_MS = 15000  # server.drain_timeout_ms when a config does not set it


def rel(path):
    return os.path.relpath(path, root)


def report(path, problems, ok_text):
    global failed
    if problems:
        failed = True
        print(f"FAIL  {rel(path)}: " + "; ".join(problems))
    else:
        print(f"ok    {rel(path)}: {ok_text}")


def skip(path, text):
    print(f"skip  {rel(path)}: skipped: {text}")


def dig(node, *keys):
    for key in keys:
        if isinstance(node, dict):
            node = node.get(key)
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            return None
    return node


def load_yaml(path):
    """All documents of a file, or raises with the parser's message."""
    with open(path, encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


# ---------------------------------------------------------------- Kubernetes
k8s_dir = os.path.join(root, "docker", "k8s")
docs = {}  # path -> documents (files that parsed)
if os.path.isdir(k8s_dir):
    files = sorted(os.path.join(k8s_dir, n) for n in os.listdir(k8s_dir) if n.endswith((".yaml", ".yml")))
else:
    files = []
    print(f"FAIL  {rel(k8s_dir)}: missing")
    failed = True

parse_problems = {}
for path in files:
    try:
        documents = load_yaml(path)
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        parse_problems[path] = ["YAML: " + " ".join(str(error).split())]
        continue
    problems = []
    if not documents:
        problems.append("no document")
    for i, doc in enumerate(documents):
        where = f"document {i + 1}: " if len(documents) > 1 else ""
        if not isinstance(doc, dict):
            problems.append(f"{where}expected a mapping")
            continue
        for key in ("apiVersion", "kind"):
            if not isinstance(doc.get(key), str) or not doc.get(key):
                problems.append(f"{where}{key} missing")
        if doc.get("kind") != "Kustomization" and not isinstance(dig(doc, "metadata", "name"), str):
            problems.append(f"{where}metadata.name missing")
    if problems:
        parse_problems[path] = problems
    else:
        docs[path] = documents


def of_kind(kind):
    return [(path, doc) for path, documents in docs.items() for doc in documents if doc.get("kind") == kind]


configmaps, secrets, deployments, services = (of_kind(k) for k in ("ConfigMap", "Secret", "Deployment", "Service"))
configmap_names = {dig(d, "metadata", "name"): d for _, d in configmaps}
secret_names = {dig(d, "metadata", "name") for _, d in secrets}
drain_ms = {}  # ConfigMap name -> server.drain_timeout_ms of its config.json
config_text = {}  # ConfigMap name -> config.json

checks = {}  # path -> (problems, summary) from the kind-specific checks below


def add(path, problems, summary):
    old = checks.setdefault(path, ([], []))
    old[0].extend(problems)
    old[1].append(summary)


for path, doc in configmaps:
    name = dig(doc, "metadata", "name")
    text = dig(doc, "data", "config.json")
    problems = []
    if not isinstance(text, str):
        add(path, ["data.config.json missing"], "")
        continue
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        add(path, [f"config.json is not valid JSON: {error}"], "")
        continue
    server = config.get("server") if isinstance(config, dict) else None
    if not isinstance(server, dict):
        problems.append("config.json: server missing")
        server = {}
    if server.get("host") != "0.0.0.0":
        problems.append(f'config.json: server.host is {server.get("host")!r}, pods must listen on "0.0.0.0"')
    drain = server.get("drain_timeout_ms", DEFAULT_DRAIN_MS)
    try:
        drain_ms[name] = int(drain)
    except (TypeError, ValueError):
        problems.append(f"config.json: server.drain_timeout_ms {drain!r} is not a fixed number (the grace period is checked against it)")
    if not isinstance(config.get("providers"), list) or not config.get("providers"):
        problems.append("config.json: providers missing")
    config_text[name] = text
    add(path, problems, f"ConfigMap {name}: config.json is valid JSON (server.host 0.0.0.0, drain {drain} ms)")

for path, doc in secrets:
    data = {**(doc.get("data") or {}), **(doc.get("stringData") or {})}
    problems = [] if "LLMGATE_API_KEY" in data else ["LLMGATE_API_KEY missing (llmgate refuses provider keys on 0.0.0.0 without it)"]
    add(path, problems, f"Secret {dig(doc, 'metadata', 'name')}: {len(data)} keys")


def container_port(container, port):
    """The containerPort a probe or Service port names (a number or a port name), or None."""
    for p in container.get("ports") or []:
        if port == p.get("name") or port == p.get("containerPort"):
            return p.get("containerPort")
    return None


def prestop_seconds(container):
    prestop = dig(container, "lifecycle", "preStop") or {}
    if isinstance(dig(prestop, "sleep", "seconds"), int):
        return prestop["sleep"]["seconds"]
    command = " ".join(str(c) for c in dig(prestop, "exec", "command") or [])
    match = re.search(r"\bsleep\s+(\d+)", command)
    return int(match.group(1)) if match else None


pod_labels = {}  # Deployment name -> (labels, container)
for path, doc in deployments:
    problems = []
    name = dig(doc, "metadata", "name")
    pod = dig(doc, "spec", "template", "spec") or {}
    containers = pod.get("containers") or []
    container = next((c for c in containers if c.get("name") == "llmgate"), containers[0] if containers else None)
    if not isinstance(container, dict):
        add(path, ["no container"], "")
        continue
    pod_labels[name] = (dig(doc, "spec", "template", "metadata", "labels") or {}, container)
    selector = dig(doc, "spec", "selector", "matchLabels") or {}
    labels = pod_labels[name][0]
    if not selector or any(labels.get(k) != v for k, v in selector.items()):
        problems.append("spec.selector.matchLabels does not match the pod template's labels")

    for probe, want in (("readinessProbe", READY_PATH), ("livenessProbe", LIVE_PATH), ("startupProbe", None)):
        get = dig(container, probe, "httpGet")
        if get is None:
            if want is not None:
                problems.append(f"{probe}: no httpGet")
            continue
        if want is not None and get.get("path") != want:
            problems.append(f"{probe}: path {get.get('path')!r}, expected {want}")
        if want is None and get.get("path") not in (READY_PATH, LIVE_PATH):
            problems.append(f"{probe}: path {get.get('path')!r} is not a health endpoint")
        if container_port(container, get.get("port")) is None:
            problems.append(f"{probe}: port {get.get('port')!r} is not a port of the container")

    security = {**(pod.get("securityContext") or {}), **(container.get("securityContext") or {})}
    if security.get("runAsNonRoot") is not True:
        problems.append("runAsNonRoot is not true")
    if security.get("runAsUser") != 10001:
        problems.append(f"runAsUser {security.get('runAsUser')!r}, the image's user is 10001")
    if dig(container, "securityContext", "readOnlyRootFilesystem") is not True:
        problems.append("readOnlyRootFilesystem is not true")
    if dig(container, "securityContext", "allowPrivilegeEscalation") is not False:
        problems.append("allowPrivilegeEscalation is not false")
    if "ALL" not in (dig(container, "securityContext", "capabilities", "drop") or []):
        problems.append("capabilities do not drop ALL")
    if not dig(container, "resources", "requests") or not dig(container, "resources", "limits"):
        problems.append("resources.requests and resources.limits are both needed")

    mount = next((m for m in container.get("volumeMounts") or [] if m.get("mountPath") == "/etc/llmgate/config.json"), None)
    configmap = None
    if mount is None:
        problems.append("nothing mounted at /etc/llmgate/config.json")
    else:
        volume = next((v for v in pod.get("volumes") or [] if v.get("name") == mount.get("name")), {})
        configmap = dig(volume, "configMap", "name")
        if configmap not in configmap_names:
            problems.append(f"config volume names ConfigMap {configmap!r}, not defined in {rel(k8s_dir)}")
        elif mount.get("subPath") not in (dig(configmap_names[configmap], "data") or {}):
            problems.append(f"subPath {mount.get('subPath')!r} is not a key of ConfigMap {configmap}")

    for ref in container.get("envFrom") or []:
        secret = dig(ref, "secretRef", "name")
        if secret is not None and secret not in secret_names:
            problems.append(f"envFrom names Secret {secret!r}, defined in no file of {rel(k8s_dir)}")

    # The grace period runs from preStop: it must cover the sleep and then the whole drain.
    grace = pod.get("terminationGracePeriodSeconds", 30)
    sleep = prestop_seconds(container)
    drain = drain_ms.get(configmap, DEFAULT_DRAIN_MS) / 1000
    if sleep is None:
        problems.append("no preStop sleep (new connections would still arrive after SIGTERM)")
        sleep = 0
    if not isinstance(grace, int) or grace <= sleep + drain:
        problems.append(f"terminationGracePeriodSeconds {grace!r} must exceed preStop sleep {sleep} s + drain {drain:g} s")

    # Service links set <SERVICE>_PORT=tcp://..., which a ${LLMGATE_PORT}-style variable would read.
    if pod.get("enableServiceLinks") is not False and configmap in config_text:
        for _, service in services:
            prefix = str(dig(service, "metadata", "name")).upper().replace("-", "_")
            used = re.findall(r"\$\{(" + re.escape(prefix) + r"_(?:PORT|SERVICE)[A-Z0-9_]*)", config_text[configmap])
            if used:
                problems.append(f"config.json reads ${{{used[0]}}}, which the Service's links set: set enableServiceLinks: false")

    add(path, problems, f"Deployment {name}: readiness {READY_PATH}, liveness {LIVE_PATH}, "
                        f"grace {grace} s > preStop {sleep} s + drain {drain:g} s, non-root read-only")

for path, doc in services:
    problems = []
    selector = dig(doc, "spec", "selector") or {}
    targets = [c for labels, c in pod_labels.values() if selector and all(labels.get(k) == v for k, v in selector.items())]
    if not targets:
        problems.append("selector matches no Deployment's pods")
    ports = dig(doc, "spec", "ports") or []
    if not any(p.get("port") == 3000 for p in ports):
        problems.append("no port 3000")
    for p in ports:
        target = p.get("targetPort", p.get("port"))
        if targets and container_port(targets[0], target) is None:
            problems.append(f"targetPort {target!r} is not a port of the llmgate container")
    add(path, problems, f"Service {dig(doc, 'metadata', 'name')}: {dig(doc, 'spec', 'type') or 'ClusterIP'} port 3000")

for path, doc in of_kind("Kustomization"):
    problems = []
    resources = doc.get("resources") or []
    for resource in resources:
        if not os.path.exists(os.path.join(os.path.dirname(path), resource)):
            problems.append(f"resource {resource} does not exist")
        if ".example." in resource:
            problems.append(f"{resource} holds placeholders and must not be applied")
    for other in files:
        name = os.path.basename(other)
        if other != path and ".example." not in name and name not in resources:
            problems.append(f"{name} is not listed in resources")
    add(path, problems, f"Kustomization: {', '.join(resources)}")

for path in files:
    if path in parse_problems:
        report(path, parse_problems[path], "")
        continue
    problems, summaries = checks.get(path, ([], []))
    kinds = ", ".join(f"{d['kind']} {dig(d, 'metadata', 'name') or ''}".strip() for d in docs[path])
    report(path, problems, "; ".join(s for s in summaries if s) or f"parses ({kinds})")

# `llmgate --check-config` on the ConfigMap's config, with the Secret's placeholders as the
# environment (every provider enabled, as in a pod).
env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LLMGATE_THREADS": "2"}
for _, doc in secrets:
    env.update({k: str(v) for k, v in (doc.get("stringData") or {}).items()})
for path, doc in configmaps:
    name = dig(doc, "metadata", "name")
    if name not in config_text:
        continue
    if not (os.path.isfile(llmgate_bin) and os.access(llmgate_bin, os.X_OK)):
        skip(path, f"llmgate --check-config: no built binary ({os.path.relpath(llmgate_bin, repo)}; set LLMGATE_BIN)")
        continue
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        f.write(config_text[name])
        f.flush()
        try:
            run = subprocess.run([llmgate_bin, "--config", f.name, "--check-config"], env=env,
                                 capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as error:
            skip(path, f"llmgate --check-config could not run: {error}")
            continue
    output = (run.stderr + run.stdout).replace(f.name, "config.json").strip().splitlines()
    if run.returncode == 0:
        print(f"ok    {rel(path)}: llmgate --check-config accepts config.json")
    elif run.returncode == 2:  # the config is wrong
        report(path, ["llmgate --check-config: " + " | ".join(output[-3:])], "")
    else:  # the binary itself did not run (missing libraries, a stale build, ...)
        skip(path, f"llmgate --check-config could not run (exit {run.returncode}): " + " | ".join(output[-1:]))

# ---------------------------------------------------------------- docker/compose.yaml
compose = os.path.join(root, "docker", "compose.yaml")
if os.path.exists(compose):
    try:
        documents = load_yaml(compose)
        services_ = dig(documents[0] if documents else None, "services")
        problems = [] if isinstance(services_, dict) and services_ else ["no services"]
        report(compose, problems, f"parses, services: {', '.join(services_ or [])}")
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        report(compose, ["YAML: " + " ".join(str(error).split())], "")

# ---------------------------------------------------------------- systemd
unit = os.path.join(root, "docker", "systemd", "llmgate.service")

# The directives this check knows (systemd.unit, .service, .exec, .kill, .resource-control);
# only consulted to catch typos when systemd-analyze is unavailable.
KNOWN = {
    "Unit": """Description Documentation Wants Requires Requisite BindsTo PartOf Upholds Conflicts Before After
        OnFailure OnSuccess PropagatesReloadTo ReloadPropagatedFrom JoinsNamespaceOf RequiresMountsFor
        DefaultDependencies StopWhenUnneeded RefuseManualStart RefuseManualStop AllowIsolate
        StartLimitIntervalSec StartLimitBurst StartLimitAction RebootArgument SourcePath
        ConditionPathExists ConditionPathIsDirectory ConditionFileNotEmpty ConditionVirtualization
        AssertPathExists AssertFileNotEmpty JobTimeoutSec""",
    "Service": """Type ExitType RemainAfterExit GuessMainPID PIDFile BusName ExecStart ExecStartPre ExecStartPost
        ExecCondition ExecReload ExecStop ExecStopPost RestartSec TimeoutStartSec TimeoutStopSec
        TimeoutAbortSec TimeoutSec RuntimeMaxSec WatchdogSec Restart SuccessExitStatus
        RestartPreventExitStatus RestartForceExitStatus RootDirectoryStartOnly NonBlocking NotifyAccess
        Sockets FileDescriptorStoreMax OOMPolicy
        KillMode KillSignal RestartKillSignal FinalKillSignal SendSIGKILL SendSIGHUP WatchdogSignal
        User Group DynamicUser SupplementaryGroups PAMName WorkingDirectory RootDirectory UMask
        Environment EnvironmentFile PassEnvironment UnsetEnvironment StandardInput StandardOutput
        StandardError SyslogIdentifier LogLevelMax LogExtraFields
        LimitCPU LimitFSIZE LimitDATA LimitSTACK LimitCORE LimitRSS LimitNOFILE LimitAS LimitNPROC
        LimitMEMLOCK LimitLOCKS LimitSIGPENDING LimitMSGQUEUE LimitNICE LimitRTPRIO LimitRTTIME
        Nice CPUSchedulingPolicy CPUAffinity IOSchedulingClass IOSchedulingPriority
        CapabilityBoundingSet AmbientCapabilities NoNewPrivileges SecureBits
        ProtectSystem ProtectHome RuntimeDirectory StateDirectory CacheDirectory LogsDirectory
        ConfigurationDirectory RuntimeDirectoryMode StateDirectoryMode CacheDirectoryMode
        LogsDirectoryMode ConfigurationDirectoryMode RuntimeDirectoryPreserve ReadWritePaths
        ReadOnlyPaths InaccessiblePaths ExecPaths NoExecPaths BindPaths BindReadOnlyPaths
        TemporaryFileSystem PrivateTmp PrivateDevices PrivateNetwork PrivateIPC PrivateUsers
        PrivateMounts ProtectHostname ProtectClock ProtectKernelTunables ProtectKernelModules
        ProtectKernelLogs ProtectControlGroups ProtectProc ProcSubset RestrictAddressFamilies
        RestrictFileSystems RestrictNamespaces LockPersonality MemoryDenyWriteExecute RestrictRealtime
        RestrictSUIDSGID RemoveIPC KeyringMode SystemCallFilter SystemCallErrorNumber
        SystemCallArchitectures SystemCallLog IPAddressAllow IPAddressDeny SocketBindAllow SocketBindDeny
        CPUAccounting CPUWeight CPUQuota MemoryAccounting MemoryMin MemoryLow MemoryHigh MemoryMax
        MemorySwapMax TasksAccounting TasksMax IOAccounting IOWeight DevicePolicy DeviceAllow Slice
        Delegate OOMScoreAdjust ManagedOOMSwap ManagedOOMMemoryPressure LoadCredential SetCredential
        LoadCredentialEncrypted SetCredentialEncrypted""",
    "Install": "WantedBy RequiredBy Alias Also DefaultInstance",
}
KNOWN = {section: set(keys.split()) for section, keys in KNOWN.items()}
BOOLEAN = re.compile(r"^(1|yes|y|true|t|on|0|no|n|false|f|off)$", re.I)
BOOLEAN_KEYS = {"NoNewPrivileges", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables",
                "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "ProtectClock",
                "ProtectHostname", "RestrictRealtime", "RestrictSUIDSGID", "LockPersonality",
                "MemoryDenyWriteExecute", "RemoveIPC", "DynamicUser", "PrivateNetwork", "SendSIGKILL"}
CHOICES = {"ProtectSystem": {"yes", "no", "full", "strict", "true", "false"},
           "ProtectHome": {"yes", "no", "read-only", "tmpfs", "true", "false"},
           "Restart": {"no", "on-success", "on-failure", "on-abnormal", "on-watchdog", "on-abort", "always"},
           "Type": {"simple", "exec", "forking", "oneshot", "dbus", "notify", "idle"},
           "KillMode": {"control-group", "mixed", "process", "none"},
           "ProtectProc": {"noaccess", "invisible", "ptraceable", "default"}}


def seconds(span):
    """A systemd time span ("30", "30s", "1min 30s", "infinity") in seconds, or None."""
    if span.strip() == "infinity":
        return float("inf")
    units = {"": 1, "s": 1, "sec": 1, "second": 1, "seconds": 1, "ms": 1e-3, "msec": 1e-3, "us": 1e-6,
             "m": 60, "min": 60, "minute": 60, "minutes": 60, "h": 3600, "hr": 3600, "hour": 3600, "hours": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", span.strip())
    if not parts or re.sub(r"[\d.\sa-z]", "", span):
        return None
    total = 0.0
    for number, unit in parts:
        if unit not in units:
            return None
        total += float(number) * units[unit]
    return total


def parse_unit(path):
    """[(section, key, value, line)] and syntax problems."""
    entries, problems, section, pending, start = [], [], None, "", 0
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if pending:
                line, pending = pending + " " + line.strip(), ""
            elif not line.strip() or line.lstrip().startswith(("#", ";")):
                continue
            else:
                start = number
            if line.endswith("\\"):
                pending = line[:-1]
                continue
            stripped = line.strip()
            if stripped.startswith("["):
                match = re.fullmatch(r"\[([A-Za-z]+)\]", stripped)
                section = match.group(1) if match else None
                if section not in KNOWN:
                    problems.append(f"line {start}: unknown section {stripped}")
                continue
            key, sep, value = stripped.partition("=")
            if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", key.strip()):
                problems.append(f"line {start}: not a key=value line")
            elif section is None:
                problems.append(f"line {start}: {key.strip()} outside a section")
            else:
                entries.append((section, key.strip(), value.strip(), start))
    return entries, problems


def exec_path(value):
    """The executable of an Exec*= line (prefixes -@:+! stripped)."""
    words = value.lstrip("-@:+!").split()
    return words[0] if words else ""


def check_unit(path, strict_keys):
    entries, problems = parse_unit(path)
    values = {}
    for section, key, value, line in entries:
        if strict_keys and key not in KNOWN.get(section, ()):
            problems.append(f"line {line}: unknown key {key} in [{section}]")
        if key in BOOLEAN_KEYS and not BOOLEAN.match(value):
            problems.append(f"line {line}: {key}={value} is not a boolean")
        if key in CHOICES and value not in CHOICES[key]:
            problems.append(f"line {line}: {key}={value} is not one of {', '.join(sorted(CHOICES[key]))}")
        if key == "RestrictAddressFamilies" and not all(re.fullmatch(r"~?AF_[A-Z0-9]+|none", w) for w in value.split()):
            problems.append(f"line {line}: RestrictAddressFamilies={value}")
        if key == "LimitNOFILE" and not re.fullmatch(r"\d+(:\d+)?|infinity", value):
            problems.append(f"line {line}: LimitNOFILE={value}")
        if key.startswith("Exec") and not exec_path(value).startswith("/"):
            problems.append(f"line {line}: {key} should name an absolute path")
        values.setdefault((section, key), []).append(value)

    def get(section, key):
        return values.get((section, key), [])

    for section in KNOWN:
        if not any(s == section for s, _, _, _ in entries):
            problems.append(f"no [{section}] section")
    start = get("Service", "ExecStart")
    if len(start) != 1 or not exec_path(start[0]).endswith("/llmgate") or "--config" not in start[0]:
        problems.append("ExecStart must run llmgate --config FILE once")
    if not any("--check-config" in v for v in get("Service", "ExecStartPre")):
        problems.append("no ExecStartPre with --check-config")
    if not any(re.search(r"kill\s+-(HUP|SIGHUP|s\s+HUP)\s+\$MAINPID", v) for v in get("Service", "ExecReload")):
        problems.append("no ExecReload sending SIGHUP to $MAINPID")
    if get("Service", "KillSignal") not in ([], ["SIGTERM"], ["TERM"], ["15"]):
        problems.append(f"KillSignal={get('Service', 'KillSignal')[-1]}: SIGTERM starts the drain")
    stop = (get("Service", "TimeoutStopSec") or get("Service", "TimeoutSec") or ["90"])[-1]
    stop_seconds = seconds(stop)
    if stop_seconds is None:
        problems.append(f"TimeoutStopSec={stop} is not a time span")
    elif stop_seconds <= DEFAULT_DRAIN_MS / 1000:
        problems.append(f"TimeoutStopSec={stop} must exceed the drain ({DEFAULT_DRAIN_MS // 1000} s)")
    if not (get("Service", "User") or get("Service", "DynamicUser") == ["yes"]):
        problems.append("runs as root: set DynamicUser=yes or User=")
    if get("Service", "CapabilityBoundingSet") != [""]:
        problems.append("CapabilityBoundingSet= (empty) expected")
    if not get("Install", "WantedBy"):
        problems.append("no WantedBy= in [Install]")
    return entries, problems, stop


def systemd_verify(path, entries):
    """(problems, None) from systemd-analyze verify, or (None, why it could not run)."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        return None, "systemd-analyze is not installed (Debian package systemd)"
    units = next((d for d in ("/usr/lib/systemd/system", "/lib/systemd/system") if os.path.isdir(d)), None)
    if units is None:
        return None, "no systemd unit directory to verify against"
    name = os.path.basename(path)
    with tempfile.TemporaryDirectory() as scratch:
        # verify checks that each Exec*= program exists: stubs stand in for them, in a scratch
        # root that also holds the system's units (sysinit.target, ...).
        shutil.copytree(units, os.path.join(scratch, "usr/lib/systemd/system"), symlinks=True)
        os.makedirs(os.path.join(scratch, "etc/systemd/system"))
        programs = {exec_path(v) for _, k, v, _ in entries if k.startswith("Exec")} | {"/bin/true"}
        for program in programs:
            if program.startswith("/"):
                stub = os.path.join(scratch, program.lstrip("/"))
                os.makedirs(os.path.dirname(stub), exist_ok=True)
                with open(stub, "w") as f:
                    f.write("#!/bin/sh\nexit 0\n")
                os.chmod(stub, 0o755)

        def verify(unit_name):
            run = subprocess.run([tool, "verify", "--man=no", f"--root={scratch}", unit_name],
                                 capture_output=True, text=True, timeout=60,
                                 env={**os.environ, "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_PAGER": ""})
            return run.returncode, [l for l in (run.stderr + run.stdout).replace(scratch, "").splitlines() if l.strip()]

        # A unit that is surely fine first: if even it fails, the tool cannot work here.
        with open(os.path.join(scratch, "etc/systemd/system/check-deploy-baseline.service"), "w") as f:
            f.write("[Unit]\nDescription=baseline\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n")
        code, output = verify("check-deploy-baseline.service")
        if code != 0 or output:
            return None, "systemd-analyze verify does not work here: " + (output[0] if output else f"exit {code}")
        shutil.copy(path, os.path.join(scratch, "etc/systemd/system", name))
        code, output = verify(name)
        # Warnings (unknown keys, unparsable values) are printed with exit 0: they count too.
        output = [l.replace("/etc/systemd/system/", "") for l in output]
        if code != 0 or output:
            return output or [f"exit {code}"], None
        return [], None


if os.path.exists(unit):
    entries, _, _ = check_unit(unit, strict_keys=False)
    verified, why = systemd_verify(unit, entries)
    _, problems, stop = check_unit(unit, strict_keys=verified is None)
    report(unit, problems, f"sections and keys: ExecStartPre --check-config, ExecReload SIGHUP, "
                           f"TimeoutStopSec {stop} > drain {DEFAULT_DRAIN_MS // 1000} s, no capabilities"
                           + ("" if verified is not None else ", every key known"))
    if verified is None:
        skip(unit, f"systemd-analyze verify: {why}")
    elif verified:
        report(unit, ["systemd-analyze verify: " + " | ".join(verified)], "")
    else:
        print(f"ok    {rel(unit)}: systemd-analyze verify (scratch root, stub executables)")
else:
    print(f"FAIL  {rel(unit)}: missing")
    failed = True

sys.exit(1 if failed else 0)
PY
