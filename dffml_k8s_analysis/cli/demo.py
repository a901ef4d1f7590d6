"""The whole loop on the embedded default, no token, no network.

Starts the GitHub emulator on 127.0.0.1 with a sample it generates (built on
the shared real release notes when they are present), then: exports it with each
item's timeline (label events, first response, reviews, who closed what), changes some items and updates, runs every analysis view and writes
their one-page HTML report, runs the pipeline (train k8s-mlp on the store's
release notes, gate on the example notes, promote it in the store's model registry),
starts the prediction service (which loads the promoted version from the store), asks it for one prediction, sends it
one signed webhook for a pull request, shows the label and comment the bot left
on the emulated GitHub, stops everything it started and says where every
output is. The exit status is 0 only when every step did what it should.
"""
import argparse
import hashlib
import hmac
import json
import pathlib
import secrets
import shutil
import time
import uuid

from .options import DEFAULT_REPO as REPO, positive_int

BUG_NOTE = "Fixed a bug where the kubelet panics when a pod has no containers."
STEPS = 8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--items", type=positive_int, default=3000, help="sample size (default: %(default)s)")
    parser.add_argument("--changes", type=positive_int, default=100, help="items changed before the update (default: %(default)s)")
    parser.add_argument("--out", default="out/demo", help="where outputs go, replaced each run (default: %(default)s)")


class Demo:
    """The steps, sharing the emulator, the output paths and a step counter."""

    def __init__(self, args: argparse.Namespace, github):
        self.args, self.github, self.step_no = args, github, 0
        self.out = pathlib.Path(args.out)
        self.store = str(self.out / "kubernetes__kubernetes.sqlite")
        self.analysis = str(self.out / "analysis")
        self.report = str(self.out / "analysis" / "report.html")
        self.model = self.store  # the model registry: versions in the store (model.registry)
        self.started = time.monotonic()

    def step(self, text: str) -> None:
        self.step_no += 1
        print(f"\n== [{self.step_no}/{STEPS}, {time.monotonic() - self.started:.0f} s] {text}", flush=True)

    def export(self) -> None:
        from .. import flows
        from ..github.export import summary_line
        from ..store import open_store

        self.step(f"export {REPO} from the emulator with each item's timeline, who closed it included "
                  "(dataflows/export.yaml, timeline.yaml)")
        print(summary_line(flows.run_export(REPO, self.github.url, self.store, timeline=True)))
        changed = self.admin("POST", "touch", count=self.args.changes, seed=1)["numbers"]
        self.step(f"{len(changed)} items changed on GitHub; update (dataflows/update.yaml)")
        print(summary_line(flows.run_export(REPO, self.github.url, self.store, update=True, timeline=True)))
        served = {int(n): updated for n, updated in self.admin("GET", "items")["items"].items()}
        with open_store(self.store) as db:
            if db.versions() != served:
                raise DemoFailure("the store differs from what GitHub serves")
        print("the store holds exactly what GitHub serves")

    def analyze(self) -> None:
        from .. import flows
        from ..analysis.report import write_report
        from ..analysis.views import VIEWS

        self.step(f"analyze: all {len(VIEWS)} views (dataflows/analyze.yaml)")
        result = flows.run_analyze(self.store, list(VIEWS), out=self.analysis)
        for view in result["views"]:
            print(f"  {view['title']}: {', '.join(pathlib.Path(f).name for f in view['files'])}")
        print(f"report, every chart and table on one page: {write_report(pathlib.Path(self.report), result)}")

    def pipeline(self) -> None:
        from .. import flows
        from ..model.canary import Policy

        self.step("pipeline: train k8s-mlp on the store's release notes, gate on the example notes, "
                  "promote (dataflows/pipeline.yaml)")
        report = flows.run_pipeline(REPO, self.github.url, self.store, self.model, quiet=True, policy=Policy(share=0))
        gate = report["gate"]
        print(f"trained on {report['trained_on']} release notes; gate: "
              f"{gate['examples'] - len(gate['failed'])}/{gate['examples']} example notes right"
              + "".join(f"\n  wrong: {text}" for text in gate["failed"]))
        if self.github.emulator.sample.notes:
            validation = gate["validation"]
            print(f"validation: accuracy {validation['accuracy']:.3f}, F1(kind/bug) {validation['f1']:.3f}")
        else:
            print("it learned from the emulator's generated notes (the shared release notes were not found: set "
                  "K8S_NOTES), templated and repeated, so no quality figure is shown; bench/model.py measures real ones")
        if not report["promoted"]:
            raise DemoFailure(f"the model was not promoted: {report['why']}")
        print(f"promoted version {report['candidate']} into the store's model_versions (canary share 0: all traffic)")

    def serve_and_label(self) -> None:
        import requests

        from ..bot.reconcile import MARKER
        from ..bot.webhook import Secret
        from ..serve.deliveries import settled
        from ..serve.service import PREDICT_ROUTE, ServeConfig, running as serving

        secret = secrets.token_hex(16)
        config = ServeConfig(self.model, self.github.url, REPO, Secret(secret))  # the bot's memory: in the store too
        with serving(config) as url:
            self.step(f"serve the model at {url}; one prediction")
            answer = requests.post(url + PREDICT_ROUTE, json={"text": BUG_NOTE}).json()
            print(f"POST {PREDICT_ROUTE} {{\"text\": \"{BUG_NOTE}\"}} -> {answer}")
            number = self.open_pr_without_bug_label()
            self.step(f"a signed webhook: PR #{number} edited to a bug-like release note")
            note = f"```release-note\n{BUG_NOTE}\n```\n"
            self.github.emulator.sample.set_body(number, note, time.time())  # the author's edit on GitHub
            payload = {"action": "edited", "pull_request": {"number": number, "body": note},
                       "repository": {"full_name": REPO}}
            body = json.dumps(payload).encode()
            signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            response = requests.post(url + "/webhook", data=body, headers={
                "X-GitHub-Event": "pull_request", "X-Hub-Signature-256": signature,
                "X-GitHub-Delivery": str(uuid.uuid4()), "Content-Type": "application/json"})
            print(f"POST /webhook -> {response.status_code} {response.text.strip()}")
            print(f"labelled in the background: {settled(url, response.json().get('queued', ''))['outcome']}")
        self.step(f"what the bot left on PR #{number}")
        issue = f"/repos/{REPO}/issues/{number}"
        labels = [label["name"] for label in requests.get(self.github.url + issue + "/labels").json()]
        comments = [c["body"] for c in requests.get(self.github.url + issue + "/comments").json()
                    if MARKER in c["body"]]
        print(f"labels: {', '.join(labels)}")
        for comment in comments:
            print("comment:\n  " + comment.replace(MARKER, "").strip().replace("\n", "\n  "))
        if "kind/bug" not in labels or len(comments) != 1:
            raise DemoFailure("the bot did not add kind/bug and exactly one comment")

    def open_pr_without_bug_label(self) -> int:
        for item in self.admin("GET", "dump"):
            labels = {label["name"] for label in item["labels"]}
            if "pull_request" in item and item["state"] == "open" and "kind/bug" not in labels:
                return item["number"]
        raise DemoFailure("the sample has no open pull request without kind/bug")

    def admin(self, method: str, route: str, **json_body):
        import requests

        response = requests.request(method, f"{self.github.url}/_emulator/{route}", json=json_body or None)
        response.raise_for_status()
        return response.json()


class DemoFailure(Exception):
    """A step did not do what it should."""


def main(args: argparse.Namespace) -> int:
    from ..emulator.rest import EmulatorConfig, running
    from ..errors import UserError

    out = pathlib.Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    with running(EmulatorConfig(items=args.items)) as github:
        demo = Demo(args, github)
        demo.step(f"GitHub emulator at {github.url} with {args.items} sample items")
        try:
            demo.export()
            demo.analyze()
            demo.pipeline()
            demo.serve_and_label()
        except DemoFailure as failure:
            raise UserError(f"demo failed: {failure}") from None
    print(f"\ndone in {time.monotonic() - demo.started:.0f} s, everything stopped. Outputs:")
    for what, path in (("store", demo.store), ("charts and numbers", demo.analysis), ("report", demo.report),
                       ("model versions", f"{demo.model} (table model_versions)"),
                       ("the bot's memory", f"{demo.model} (tables deliveries, applied, leases)")):
        print(f"  {what:<20} {path}")
    return 0
