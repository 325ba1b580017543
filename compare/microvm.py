"""The comparison's MicroVM: QEMU's `microvm` machine booting Debian's kernel with a small
initramfs of static programs (compare/microvm/init.c runs /job.sh with busybox's sh, then
reboots, which -no-reboot turns into QEMU's exit). One VM per sandbox, as Firecracker and
Kata give each container.

KVM is used when a stock kernel boots on it; on these machines /dev/kvm is kvm_pvm, which
does not boot one, so the VM runs under TCG (QEMU's instruction translator) and every
figure is labelled with the accelerator that produced it.
"""
import glob
import os
import stat
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = "/var/tmp/joey-compare/microvm"
MEMORY = "128M"


def _cpio_entry(name, mode, data=b"", rdev=(0, 0), ino=[0]):
    """One newc cpio member (the initramfs format the kernel unpacks)."""
    ino[0] += 1
    fields = [ino[0], mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0]
    out = ("070701" + "".join(f"{v:08X}" for v in fields)).encode() + name.encode() + b"\0"
    out += b"\0" * (-len(out) % 4)
    return out + data + b"\0" * (-len(data) % 4)


def initramfs(path, files, script):
    """Writes an initramfs with /init, busybox as /bin/sh, `files` (name -> host path) and
    /job.sh = `script`."""
    blob = b""
    for d in ("dev", "bin", "proc", "sys", "tmp"):
        blob += _cpio_entry(d, stat.S_IFDIR | 0o755)
    # The kernel opens /dev/console for init's stdio before anything is mounted.
    blob += _cpio_entry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))
    members = {"init": os.path.join(WORK, "init"), "bin/busybox": "/bin/busybox"}
    members.update(files)
    for name, src in members.items():
        with open(src, "rb") as fh:
            blob += _cpio_entry(name, stat.S_IFREG | 0o755, fh.read())
    blob += _cpio_entry("bin/sh", stat.S_IFLNK | 0o777, b"busybox")
    blob += _cpio_entry("job.sh", stat.S_IFREG | 0o755, script.encode())
    blob += _cpio_entry("TRAILER!!!", 0)
    with open(path, "wb") as fh:
        fh.write(blob)


def kernel():
    """Debian's current kernel image, unpacked from its package into WORK (nothing is
    installed on the host); None and why when it cannot be had."""
    found = sorted(glob.glob(os.path.join(WORK, "boot", "vmlinuz-*")))
    if found:
        return found[-1], None
    os.makedirs(WORK, exist_ok=True)
    deps = subprocess.run(["apt-cache", "depends", "linux-image-amd64"], capture_output=True, text=True).stdout
    pkg = next((l.split(":", 1)[1].strip() for l in deps.splitlines() if "Depends:" in l and "linux-image-" in l), None)
    if not pkg:
        return None, "apt-cache knows no linux-image-amd64 (Debian's kernel package)"
    r = subprocess.run(["apt-get", "download", pkg], cwd=WORK, capture_output=True, text=True)
    debs = glob.glob(os.path.join(WORK, pkg + "_*.deb"))
    if not debs:
        return None, f"apt-get download {pkg} failed: {r.stderr.strip()[-300:]}"
    tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", debs[0]], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", WORK, "./boot/"], stdin=tar.stdout, check=True)
    tar.wait()
    os.unlink(debs[0])
    found = sorted(glob.glob(os.path.join(WORK, "boot", "vmlinuz-*")))
    return (found[-1], None) if found else (None, f"{pkg} holds no /boot/vmlinuz")


class MicroVM:
    """Builds and boots the VMs; `accel` is "kvm" or "tcg" once probe() has run."""

    def __init__(self):
        self.accel = None
        self.why_not_kvm = None
        self.kernel = None
        self.tsc_khz = None

    def probe(self, hello):
        """None when a VM can run here, else why not. Tries KVM first, then TCG."""
        qemu = "/usr/bin/qemu-system-x86_64"
        if not os.path.exists(qemu):
            return "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)"
        self.kernel, why = kernel()
        if why:
            return why
        os.makedirs(WORK, exist_ok=True)
        subprocess.run(["gcc", "-O2", "-static", "-o", os.path.join(WORK, "init"), os.path.join(HERE, "microvm", "init.c")],
                       check=True)
        tsc = os.path.join(WORK, "tsc_khz")
        subprocess.run(["gcc", "-O2", "-o", tsc, os.path.join(HERE, "microvm", "tsc_khz.c")], check=True)
        self.tsc_khz = int(subprocess.run([tsc], capture_output=True, text=True, check=True).stdout)
        image = self.image("probe", {"hello": hello}, "/hello\n")
        for accel in ("kvm", "tcg"):
            if accel == "kvm" and not os.access("/dev/kvm", os.R_OK | os.W_OK):
                self.why_not_kvm = "/dev/kvm is not usable"
                continue
            self.accel = accel
            try:
                out = subprocess.run(self.command(image), capture_output=True, text=True, timeout=20 if accel == "kvm" else 120)
                text = out.stdout + out.stderr
            except subprocess.TimeoutExpired:
                text = "no output within 20 s"
            if "ready" in text:
                return None
            if accel == "kvm":
                self.why_not_kvm = "QEMU with KVM did not boot Debian's kernel here: " + text.strip().splitlines()[-1][:200]
        self.accel = None
        return "QEMU booted no VM under TCG either"

    def image(self, name, files, script):
        path = os.path.join(WORK, f"{name}.cpio")
        initramfs(path, files, script)
        return path

    def command(self, image, memory=MEMORY):
        accel = ["-accel", "kvm", "-cpu", "host"] if self.accel == "kvm" else ["-accel", "tcg"]
        # -sandbox: QEMU's own seccomp filter, the strictest it offers.
        return (["/usr/bin/qemu-system-x86_64"] + accel +
                ["-M", "microvm,x-option-roms=off,isa-serial=on,rtc=on", "-m", memory, "-smp", "1",
                 "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot",
                 "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
                 "-kernel", self.kernel, "-initrd", image,
                 "-append", f"console=ttyS0 quiet reboot=t panic=-1 pci=off tsc_early_khz={self.tsc_khz}"])

    def run(self, image, timeout=600, memory=MEMORY):
        """Boots a VM to its end; its serial output."""
        r = subprocess.run(self.command(image, memory), capture_output=True, text=True, errors="replace", timeout=timeout)
        return r.stdout
