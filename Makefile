# netserv: top-level driver. The real build is CMake (see docs/build.md);
# this Makefile installs what is missing, configures and runs the builds.
#
#   make            build (build/)
#   make test       unit + daemon tests, twice: normal and ASan+UBSan builds,
#                   each benchmark once in its smoke mode (bench/smoke, about
#                   a minute; normal build only), plus a bounded libFuzzer
#                   run; ends with
#                   "N passed, N failed, N skipped" (a skip is not a pass)
#   make demo       the end-to-end demo (scripts/demo)
#   make demo SCENARIO=keepalive|overload|netmonitor|media-relay|activecdn|sidecar
#                   a SIP application, or the Media Relay, in namespaces
#                   (scripts/demo-SCENARIO, root; activecdn: netserv-origin
#                   and a cached video, a frame saved as a PNG; sidecar: an
#                   OpenFlow switch steering flows to three nodes, one
#                   killed: its flows move to the others)
#   make bench      bench/module-call: module call cost and container memory;
#                   bench/forwarding (root): the packet path on a router;
#                   bench/signaling (root): netserv setup on 1, 3, 5 nodes
#                   (BENCH_QUICK=1: a short run; bench/smoke: all of them
#                   with tiny counts, checking their tables)
#   make install PREFIX=/usr/local DESTDIR=
#                   (an edited netservd.conf stays; the new sample goes
#                   beside it as netservd.conf.dist)
#   make uninstall  removes what make install installed (not an edited
#                   configuration, not the node's state)
#   make deb        the Debian packages build-deb/netserv_VERSION_ARCH.deb,
#                   libnetserv-client0_... and libnetserv-client-dev_...
#                   (scripts/mkdeb; docs/build.md)
#   make format     clang-format every C file

PREFIX ?= /usr/local
DESTDIR ?=
CMAKE_GEN := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")
FUZZ_SECONDS ?= 10

.PHONY: all build build-asan build-fuzz deps test demo install uninstall deb format clean

all: build

deps:
	@./scripts/install-deps

build: deps
	@cmake -S . -B build $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@cmake --build build

build-asan: deps
	@cmake -S . -B build-asan $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DNETSERV_SANITIZE=ON >/dev/null
	@cmake --build build-asan

build-fuzz: deps
	@CC=clang cmake -S . -B build-fuzz $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug \
		-DNETSERV_SANITIZE=ON -DNETSERV_FUZZ=ON -DNETSERV_TESTS=OFF >/dev/null
	@cmake --build build-fuzz --target fuzz_ncm fuzz_gist fuzz_wasm fuzz_nslp fuzz_sip fuzz_stun fuzz_pkt_filter fuzz_gist_node fuzz_origin_http fuzz_media fuzz_nfq_relay fuzz_nflog fuzz_openflow \
		fuzz_xdp_fwd fuzz_sidecar

test: build build-asan build-fuzz
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/run-all build build-asan build-fuzz

demo: build
	@./scripts/demo$(if $(SCENARIO),-$(SCENARIO))

# Benchmarks (bench/README.md): each script builds what it needs in build/.
.PHONY: bench
bench: build
	@./bench/module-call
	@if [ "$$(id -u)" = 0 ]; then ./bench/forwarding; \
	else echo "bench/forwarding: skipped (needs root)"; fi
	@if [ "$$(id -u)" = 0 ]; then ./bench/signaling; \
	else echo "bench/signaling: skipped (needs root)"; fi

# Installed from a build of its own (build-install/): without the tests, and
# without the build-tree paths that build/ compiles in (NETSERV_BUILD_TREE_PATHS).
install: deps
	@cmake -S . -B build-install $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DCMAKE_INSTALL_PREFIX=$(PREFIX) -DNETSERV_TESTS=OFF \
		-DNETSERV_BUILD_TREE_PATHS=OFF >/dev/null
	@cmake --build build-install
	@DESTDIR=$(DESTDIR) cmake --install build-install

uninstall:
	@DESTDIR=$(DESTDIR) ./scripts/uninstall build-install

deb: deps
	@./scripts/mkdeb build-deb

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-fuzz build-deb build-install
