### Stand-in for proxmox-ve 8.4.0 (Proxmox VE 8's metapackage; Packages of the
### bookworm repository): it Depends on pve-manager (>= 8.0.4), which Depends on
### pve-container, which Depends on lxc-pve; and on the kernel.  Its other
### Depends (apt, openssh-*, qemu-server, pve-qemu-kvm, ...) are left out.
Section: admin
Priority: optional
Standards-Version: 4.6.2
Maintainer: pxcri package tests <root@localhost>
Package: proxmox-ve
Version: 8.4.0
Architecture: all
Depends: pve-manager (>= 8.0.4), proxmox-kernel-6.8.12-9-pve-signed
Description: stand-in for Proxmox VE's metapackage (its package relations only)
 Made by pxcri's package tests (tests/package).
