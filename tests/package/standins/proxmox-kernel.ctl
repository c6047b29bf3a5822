### Stand-in for the kernel proxmox-ve brings (proxmox-default-kernel ->
### proxmox-kernel-6.8 -> proxmox-kernel-6.8.12-N-pve-signed, which Depends:
### busybox, initramfs-tools | linux-initramfs-tool): busybox is on every
### Proxmox VE node, and busybox-static (make deps' test tools) conflicts with it.
Section: admin
Priority: optional
Standards-Version: 4.6.2
Maintainer: pxcri package tests <root@localhost>
Package: proxmox-kernel-6.8.12-9-pve-signed
Version: 6.8.12-9
Architecture: amd64
Depends: busybox
Description: stand-in for a Proxmox VE kernel (its package relations only)
 Made by pxcri's package tests (tests/package).
