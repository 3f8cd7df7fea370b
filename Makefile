# Entry points for people and CI. Everything runs from the project's
# virtualenv (.venv), which `make venv` creates with pinned versions.
VENV   ?= .venv
PY     := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: venv collection images artifacts lab demo bench test test-checks-ansible-test test-checks-pytest test-unit test-oldest test-integration test-molecule lint lab-destroy clean

venv: $(VENV)/.installed
$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

collection:
	scripts/link-collection.sh

# The base image, and its SSH flavour with the lab's key (molecule/default).
images:
	scripts/build-base-image.sh bookworm
	scripts/build-ssh-image.sh bookworm

artifacts: venv
	PYTHON=$(CURDIR)/$(PY) examples/demoapp/build.sh 1.0.0
	PYTHON=$(CURDIR)/$(PY) examples/demoapp/build.sh 1.1.0

# Create the lab containers and bring them to release 1.0.0.
lab: venv collection images artifacts
	molecule converge -s default

# The main job: lab at 1.0.0, then roll to 1.1.0 under the load probe, then
# run the same deploy again (it must change nothing).
demo: lab
	$(PY) scripts/deploy_under_load.py --release 1.1.0 --output build/demo-report.json
	$(PY) scripts/deploy_under_load.py --release 1.1.0 --output build/demo-rerun-report.json

test-unit: venv collection
	$(PY) -m pytest -q tests/unit

# Sanity and the collection's unit tests on the oldest ansible-core that
# requires_ansible allows (requirements-oldest.txt), in a virtualenv of its
# own; lint and test-unit run the newest.
OLDEST_VENV := build/venv-oldest
$(OLDEST_VENV)/.installed: requirements-oldest.txt
	python3 -m venv $(OLDEST_VENV)
	$(OLDEST_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-oldest.txt
	touch $@

test-oldest: $(OLDEST_VENV)/.installed collection
	VENV_BIN=$(CURDIR)/$(OLDEST_VENV)/bin scripts/ansible-test.sh sanity
	$(OLDEST_VENV)/bin/python -m pytest -q tests/unit/plugins tests/unit/roles

# pytest drives the modules, roles and the collection build against real
# programs; ansible-test runs the modules' targets (tests/integration/targets).
INTEGRATION_PYTEST      := $(PY) -m pytest -q -n 2 tests/integration
INTEGRATION_ANSIBLE_TEST := scripts/ansible-test.sh integration
test-integration: venv collection
	$(INTEGRATION_PYTEST)
	$(INTEGRATION_ANSIBLE_TEST)

# The lab scenarios, one after the other (they share the base image; each
# creates and destroys its own containers).
MOLECULE_SCENARIOS ?= default wagtail ha_pair bluegreen faults

#
# Each scenario's containers are removed by a destroy of its own, with a
# longer Docker API timeout than community.docker's 60 s: on a loaded
# machine removing a systemd container once took longer ("Read timed out")
# and failed a whole run. The destroy runs whether the test passed or not.
test-molecule: venv collection images artifacts
	set -e; for scenario in $(MOLECULE_SCENARIOS); do \
	    rc=0; molecule test -s $$scenario --destroy=never || rc=$$?; \
	    DOCKER_TIMEOUT=300 molecule destroy -s $$scenario || [ $$rc -ne 0 ]; \
	    [ $$rc -eq 0 ] || exit $$rc; \
	done

# YAML style, Ansible practices (production profile, offline; --strict: a
# warning fails too, as one had demoted the profile unnoticed) and
# ansible-test sanity on a snapshot of the collection.
lint: venv collection
	yamllint .
	ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/build/collections ansible-lint --strict
	scripts/ansible-test.sh sanity

# The checks before the lab run as two streams at once, each in order, then
# the lab scenarios alone (they want the machine to themselves): everything
# ansible-test runs (lint's sanity, test-oldest, the integration targets:
# they share ansible-test's caches under ~/.ansible/test), and the pytest
# suites (test-unit, then tests/integration). Neither stream writes what the
# other reads; each one's output is printed when it ends (--output-sync).
# What the streams and the lab need is made at the same time, each as soon
# as a job is free (-j3): the oldest ansible-core's virtualenv for the
# first stream, the lab's images (debootstrap, mostly download and unpack)
# and the demo app's artifacts for the second one, whose container tests
# use the base image, and for the lab. On a fresh machine that puts the
# minutes of debootstrap beside the first stream instead of between the
# checks and the lab.
test: venv collection
	$(MAKE) --no-print-directory -j3 --output-sync=target test-checks-ansible-test test-checks-pytest
	$(MAKE) --no-print-directory test-molecule

test-checks-ansible-test: venv collection $(OLDEST_VENV)/.installed
	$(MAKE) --no-print-directory -j1 lint test-oldest
	$(INTEGRATION_ANSIBLE_TEST)

test-checks-pytest: venv collection images artifacts
	$(MAKE) --no-print-directory -j1 test-unit
	$(INTEGRATION_PYTEST)

# The benchmark (issue 7): this collection against a classic rolling update
# on its own lab (bm-* containers), 3, 6 and 12 app hosts, serial 1 and
# batches, alternating rounds; writes benchmarks/results.json, RESULTS.md
# and the plot. Not part of `make test`: it measures, it asserts nothing.
# BENCH_ARGS passes options, e.g. BENCH_ARGS="--sizes 3 --rounds 1".
BENCH_ARGS ?=
bench: venv collection images artifacts
	$(PY) benchmarks/run.py $(BENCH_ARGS)

lab-destroy: venv
	molecule destroy -s default

clean: lab-destroy
	rm -rf build
