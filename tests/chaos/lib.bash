# Shared by tests/chaos/*.bats, after ../helpers: nsock under fault.so,
# and no fault but those a test asks for, whatever make chaos exported.

NSOCK=$BATS_TEST_DIRNAME/nsock-chaos
NSOCK_SERVER=$NSOCK
export NSOCK_FAULT_SEED=${NSOCK_FAULT_SEED:-7}
export NSOCK_FAULT_SHORT=0 NSOCK_FAULT_EINTR=0 NSOCK_FAULT_EAGAIN=0

# total FIELD: the sum of FIELD=N over every line of the stats file that
# NSOCK_FAULT_STATS=$T/stats has each nsock append at exit.
total() {
	sed -n "s/.* $1=\([0-9]*\).*/\1/p" "$T/stats" |
	    awk '{ s += $1 } END { print s + 0 }'
}
