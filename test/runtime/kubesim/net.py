"""The cluster network: a network namespace of its own with a bridge, one namespace per pod
joined to it by a veth pair, and dnsmasq as the cluster DNS.

Nothing here touches the host's namespace: every link is created inside the cluster's or a
pod's namespace (`ip -n`), and the cluster namespace has no route out (shared/PLATFORM.md).
Pods get a new address each time they are created, as on a real cluster (pod 0 recreated
answers at a new IP, which is why the agent resolves names instead of caching addresses).
"""

import ctypes
import http.client
import os
import signal
import socket
import struct
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

SUBNET = "10.96"          # the whole cluster network: 10.96.0.0/16
BRIDGE_IP = SUBNET + ".0.1"
DNS_IP = SUBNET + ".0.10"
CLONE_NEWNET = 0x40000000


def run(argv, check=True, **kw):
    return subprocess.run(argv, check=check, capture_output=True, text=True, **kw)


class Network:
    """Owns the namespaces named `<prefix>-c` (cluster) and `<prefix>-p<k>` (pods)."""

    def __init__(self, prefix, workdir, domain):
        self.prefix = prefix
        self.cluster_ns = prefix + "-c"
        self.workdir = workdir
        self.domain = domain
        self._lock = threading.Lock()
        self._next = 0
        self._pods = {}       # pod uid -> (ns name, veth name, ip)
        self._dnsmasq = None
        self.hosts_file = os.path.join(workdir, "dns", "hosts")
        self._executor = None

    # -- set-up and tear-down ---------------------------------------------------------------
    def up(self):
        c = self.cluster_ns
        run(["ip", "netns", "add", c])
        run(["ip", "-n", c, "link", "set", "lo", "up"])
        # A fixed address: a bridge otherwise takes the lowest MAC of its ports and changes it
        # when a pod's veth goes, and every pod's cached ARP entry for the DNS server then
        # points nowhere until it expires (DNS timeouts for up to a minute).
        run(["ip", "-n", c, "link", "add", "br0", "address", "02:6b:75:62:65:01", "type", "bridge"])
        run(["ip", "-n", c, "addr", "add", BRIDGE_IP + "/16", "dev", "br0"])
        run(["ip", "-n", c, "addr", "add", DNS_IP + "/16", "dev", "br0"])
        run(["ip", "-n", c, "link", "set", "br0", "up"])
        routes = run(["ip", "-n", c, "route", "show", "default"]).stdout.strip()
        if routes:
            raise RuntimeError(f"cluster namespace {c} has a default route: {routes}")
        os.makedirs(os.path.dirname(self.hosts_file), mode=0o755, exist_ok=True)
        self.write_hosts({})
        self._executor = ThreadPoolExecutor(max_workers=8, initializer=self._enter_cluster_net,
                                            thread_name_prefix="netns")
        self._start_dns()

    def down(self):
        if self._executor:
            self._executor.shutdown(wait=False, cancel_futures=True)
        if self._dnsmasq and self._dnsmasq.poll() is None:
            self._dnsmasq.terminate()
            try:
                self._dnsmasq.wait(5)
            except subprocess.TimeoutExpired:
                self._dnsmasq.kill()
                self._dnsmasq.wait()
        for uid in list(self._pods):
            self.remove_pod(uid)
        run(["ip", "netns", "del", self.cluster_ns], check=False)

    def _start_dns(self):
        # Authoritative for the cluster domain (NXDOMAIN for an absent pod), no upstream, no
        # caching on the answering side (TTL 0), reloaded by SIGHUP after each change.
        argv = ["nsenter", "--net=/run/netns/" + self.cluster_ns, "dnsmasq", "--keep-in-foreground",
                "--bind-interfaces", "--listen-address=" + DNS_IP, "--port=53", "--no-resolv",
                "--no-hosts", "--addn-hosts=" + self.hosts_file, "--local=/" + self.domain + "/",
                "--local-ttl=0", "--no-negcache", "--user=root", "--log-facility=-",
                "--pid-file=" + os.path.join(self.workdir, "dns", "dnsmasq.pid")]
        log = open(os.path.join(self.workdir, "dns", "dnsmasq.log"), "w")
        self._dnsmasq = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        # Until dnsmasq answers, its SIGHUP handler may not be installed yet (SIGHUP would end
        # it): wait for an answer to a real query before anything reloads it.
        deadline = time.monotonic() + 20
        while True:
            if self._dnsmasq.poll() is not None:
                raise RuntimeError(f"dnsmasq exited {self._dnsmasq.returncode} (see {log.name})")
            try:
                rcode = self.call(dns_query_rcode, "kubesim-ready." + self.domain, timeout=5)
                if rcode == 3:   # NXDOMAIN: up and authoritative for the domain
                    return
            except (OSError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("dnsmasq did not answer within 20 s")
            time.sleep(0.1)

    def write_hosts(self, records):
        """records: {name: [ip, ...]}; replaces every record and reloads the DNS server."""
        tmp = self.hosts_file + ".new"
        with open(tmp, "w") as f:
            for name in sorted(records):
                for ip in records[name]:
                    f.write(f"{ip} {name}\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.hosts_file)
        if self._dnsmasq and self._dnsmasq.poll() is None:
            self._dnsmasq.send_signal(signal.SIGHUP)

    # -- pods -------------------------------------------------------------------------------
    def add_pod(self, uid):
        """A fresh namespace and address for one pod incarnation; returns (ns path, ip)."""
        with self._lock:
            self._next += 1
            k = self._next
        ns = f"{self.prefix}-p{k}"
        veth = f"v{k}"
        ip = f"{SUBNET}.{1 + k // 250}.{1 + k % 250}"
        run(["ip", "netns", "add", ns])
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(["ip", "-n", self.cluster_ns, "link", "add", veth, "type", "veth", "peer", "name",
             "eth0", "netns", ns])
        run(["ip", "-n", self.cluster_ns, "link", "set", veth, "master", "br0"])
        run(["ip", "-n", self.cluster_ns, "link", "set", veth, "up"])
        run(["ip", "-n", ns, "addr", "add", ip + "/16", "dev", "eth0"])
        run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        with self._lock:
            self._pods[uid] = (ns, veth, ip)
        return "/run/netns/" + ns, ip

    def remove_pod(self, uid):
        with self._lock:
            entry = self._pods.pop(uid, None)
        if entry:
            ns, veth, _ = entry
            run(["ip", "-n", self.cluster_ns, "link", "del", veth], check=False)
            run(["ip", "netns", "del", ns], check=False)

    # -- reaching the pods ------------------------------------------------------------------
    def _enter_cluster_net(self):
        # setns() moves only the calling thread: this pool's threads live in the cluster
        # network, so probes and test clients reach pod addresses from there.
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open("/run/netns/" + self.cluster_ns, os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns into " + self.cluster_ns)
        finally:
            os.close(fd)

    def call(self, fn, *args, timeout=None):
        """Runs fn(*args) on a thread inside the cluster network and returns its result."""
        return self._executor.submit(fn, *args).result(timeout)

    def http_get(self, ip, port, path, timeout, headers=None):
        """(status, body) of one GET from inside the cluster network (a probe, a scrape)."""
        def get():
            conn = http.client.HTTPConnection(ip, port, timeout=timeout)
            try:
                conn.request("GET", path, headers=headers or {})
                resp = conn.getresponse()
                return resp.status, resp.read().decode(errors="replace")
            finally:
                conn.close()
        return self.call(get, timeout=timeout + 5)

    def command(self, argv):
        """argv prefixed to run a program inside the cluster network."""
        return ["nsenter", "--net=/run/netns/" + self.cluster_ns] + list(argv)


def dns_query_rcode(name, server=DNS_IP):
    """The response code of one A query (0 answer, 3 NXDOMAIN); raises on no answer."""
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    packet = struct.pack(">HHHHHH", 0x4b53, 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        s.sendto(packet, (server, 53))
        data = s.recv(512)
    return data[3] & 0x0F


def sweep_stale(prefix_base):
    """Removes namespaces left by runs whose process is gone (`<base><pid>-...`)."""
    try:
        names = os.listdir("/run/netns")
    except FileNotFoundError:
        return []
    removed = []
    for name in names:
        if not name.startswith(prefix_base):
            continue
        pid = name[len(prefix_base):].split("-", 1)[0]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            run(["ip", "netns", "del", name], check=False)
            removed.append(name)
    return removed
