# Sourced by the VM tests (through lib.sh, or directly): udev_rule_on puts the project's udev
# rule (udev/70-dfu-mgr.rules) in force for the boards already attached (1915:*), as a package
# install leaves it; udev_rule_off takes it away again.
UDEV_RULE=/run/udev/rules.d/70-dfu-mgr.rules
udev_rule_on() {
	mkdir -p "$(dirname "$UDEV_RULE")"
	cp "$(dirname "${BASH_SOURCE[0]}")/../../udev/70-dfu-mgr.rules" "$UDEV_RULE"
	udevadm control --reload
	udevadm trigger --action=change --subsystem-match=usb --attr-match=idVendor=1915
	udevadm settle
}
udev_rule_off() {
	[ -e "$UDEV_RULE" ] || return 0
	rm -f "$UDEV_RULE"
	udevadm control --reload
}
