#!/usr/bin/env bash
# build-image.sh OUTDIR: a tiny guest for uplinkd's tests and demo, made
# from Debian packages only. OUTDIR/vmlinuz is Debian's cloud kernel;
# OUTDIR/initrd.img is a busybox initramfs with the virtio-net modules (and
# pktgen) and ./init from this directory as /init. Re-running rebuilds the
# same thing; both files are replaced only once complete.
set -euo pipefail

OUT=${1:?usage: build-image.sh OUTDIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# In load order: modprobe -D adds what each one needs first.
MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net)
OPTIONAL_MODULES=(pktgen 8021q)

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

# apt's package lists may be missing or stale on a fresh machine: update
# them only when a look-up or download fails, not on every build.
updated=""
apt_update_once() {
	[ -n "$updated" ] && return 1
	updated=1
	apt-get update -qq
}
# As root, apt drops to user _apt for downloads, which cannot write into a
# mktemp directory; downloading as root here is what it falls back to anyway.
download() {
	apt-get download -qq -o APT::Sandbox::User=root "$@" || { apt_update_once && apt-get download -qq -o APT::Sandbox::User=root "$@"; }
}
kernel_package() {
	apt-cache depends linux-image-cloud-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-cloud-amd64$/ { print $2; exit }'
}

# The metapackage only depends on the versioned kernel package, which is
# the one that holds the kernel.
KPKG=$(kernel_package)
if [ -z "$KPKG" ]; then
	apt_update_once || true
	KPKG=$(kernel_package)
fi
[ -n "$KPKG" ] || { echo "build-image: cannot resolve linux-image-cloud-amd64" >&2; exit 1; }
download "$KPKG" busybox-static
dpkg -x "$KPKG"_*.deb kernel
dpkg -x busybox-static_*.deb busybox
KVER=${KPKG#linux-image-}
MODDIR=kernel/lib/modules/$KVER
[ -d "$MODDIR" ] || { echo "build-image: $KPKG has no $MODDIR" >&2; exit 1; }

# The .deb ships no modules.dep: make one, then let modprobe list each
# module's dependencies in load order (builtins print as "builtin", skipped).
depmod -b kernel "$KVER"
wanted=("${MODULES[@]}")
for m in "${OPTIONAL_MODULES[@]}"; do
	if modprobe -d kernel -S "$KVER" -D "$m" >/dev/null 2>&1; then
		wanted+=("$m")
	else
		echo "build-image: $KVER has no $m module (pktgen: the guest falls back to ping; 8021q: no uplk.vlans)" >&2
	fi
done
paths=$(for m in "${wanted[@]}"; do modprobe -d kernel -S "$KVER" -D "$m"; done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }')

ROOT=$WORK/root
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,lib/modules}
cp busybox/bin/busybox "$ROOT/bin/busybox"
ln -s busybox "$ROOT/bin/sh"
install -m 0755 "$HERE/init" "$ROOT/init"
# Busybox insmod may lack xz or zstd support: modules go in uncompressed,
# named in load order in /lib/modules/order.
: >"$ROOT/lib/modules/order"
for p in $paths; do
	name=$(basename "$p")
	case "$name" in
	*.ko.xz) xz -dc "$p" >"$ROOT/lib/modules/${name%.xz}"; name=${name%.xz} ;;
	*.ko.zst) zstd -qdc "$p" >"$ROOT/lib/modules/${name%.zst}"; name=${name%.zst} ;;
	*.ko.gz) gzip -dc "$p" >"$ROOT/lib/modules/${name%.gz}"; name=${name%.gz} ;;
	*) cp "$p" "$ROOT/lib/modules/$name" ;;
	esac
	echo "$name" >>"$ROOT/lib/modules/order"
done
# The kernel opens /dev/console for /init before anything is mounted; without
# the node (mknod needs privileges) /init reopens it once devtmpfs is up.
mknod -m 600 "$ROOT/dev/console" c 5 1 2>/dev/null || true
(cd "$ROOT" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --owner 0:0 --quiet) | gzip -9n >initrd.img

cp "kernel/boot/vmlinuz-$KVER" vmlinuz
mv -f vmlinuz "$OUT/vmlinuz.tmp" && mv -f "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"
mv -f initrd.img "$OUT/initrd.img.tmp" && mv -f "$OUT/initrd.img.tmp" "$OUT/initrd.img"
echo "build-image: $OUT/vmlinuz ($KVER), $OUT/initrd.img ($(wc -l <"$ROOT/lib/modules/order") modules)"
