"""The whole loop on the embedded default, no token, no network.

Starts the GitHub emulator on 127.0.0.1 with a sample it generates (built on
the shared real release notes when they are present), then: exports it with each
item's timeline (label events, first response, reviews, who closed what), changes some items and updates, runs every analysis view and writes
their one-page HTML report, runs the pipeline (train k8s-mlp on the store's
release notes, gate on the example notes, promote it in the store's model registry),
starts the prediction service (which loads the promoted version from the store), asks it for one prediction, sends it
signed webhooks for pull requests and shows what the bot left on the emulated GitHub,
with two identities (the bot's token and a maintainer's): it acts on one PR, only
suggests on one where a person chose the kind, and defers to the person who removes
its label; then it stops everything it started and says where every output is. The exit status is 0 only when every step did what it should.
"""
import argparse
import hashlib
import hmac
import json
import os
import pathlib
import secrets
import shutil
import time
import uuid

from .options import DEFAULT_REPO as REPO, positive_int

BUG_NOTE = "Fixed a bug where the kubelet panics when a pod has no containers."
BOT_TOKEN, PERSON_TOKEN = "demo-bot-token", "demo-maintainer-token"  # the emulator's two identities
BOT_LOGIN, PERSON_LOGIN = "k8s-analysis-demo[bot]", "maintainer"
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

        from ..bot.webhook import Secret
        from ..serve.service import PREDICT_ROUTE, ServeConfig, running as serving

        secret = secrets.token_hex(16)
        config = ServeConfig(self.model, self.github.url, REPO, Secret(secret))  # the bot's memory: in the store too
        with serving(config) as url:
            self.step(f"serve the model at {url}; one prediction")
            answer = requests.post(url + PREDICT_ROUTE, json={"text": BUG_NOTE}).json()
            print(f"POST {PREDICT_ROUTE} {{\"text\": \"{BUG_NOTE}\"}} -> {answer}")
            text, acts = self.bug_note(url + PREDICT_ROUTE)
            acted, suggested = self.open_prs(2)
            self.step(f"signed webhooks: PRs #{acted} and #{suggested} edited to a bug-like release note; "
                      f"on #{suggested} a person had chosen kind/feature")
            print(f"the note: {text}")
            if not acts:
                print("this model has no act band (no threshold reached precision 0.90 with 95 % confidence on its "
                      "validation notes; more notes make one), so its bot adds no label: it suggests")
            note = f"```release-note\n{text}\n```\n"
            for number in (acted, suggested):
                self.person("PUT", number, "/labels", labels=["sig/node"] + ["kind/feature"] * (number == suggested))
                self.github.emulator.sample.set_body(number, note, time.time())  # the author's edit on GitHub
                self.deliver(url, secret, "edited", number)
            self.show(acted, "the bot acts: its label and one comment" if acts else "the bot suggests: one comment")
            self.show(suggested, "a person chose the kind: the bot defers" + (", at most suggesting" if acts else ""))
            if ("kind/bug" in self.labels(acted)) != acts or "kind/bug" in self.labels(suggested) or \
                    not self.comments(acted):
                raise DemoFailure("the bot did not act (or suggest) on one PR and defer on the other")
            if acts:
                self.step(f"a person removes kind/bug from #{acted}: the bot defers to them")
                self.person("DELETE", acted, "/labels/kind%2Fbug")
                self.deliver(url, secret, "unlabeled", acted, label={"name": "kind/bug"})
            else:
                self.step(f"a person adds kind/bug to #{acted}, as suggested: the bot defers to them")
                self.person("POST", acted, "/labels", labels=["kind/bug"])
                self.deliver(url, secret, "labeled", acted, label={"name": "kind/bug"})
            self.deliver(url, secret, "edited", acted)  # the note edited again: the person's choice stands
            self.show(acted, "deferred to a person: their choice stands, no comment")
            if ("kind/bug" in self.labels(acted)) == acts or self.comments(acted):
                raise DemoFailure("the bot overrode a person")

    def bug_note(self, predict_url: str) -> tuple:
        """A bug fix's note the bot acts on (the example, else one of the store's), and True; else one it
        suggests, and False (the act band depends on the notes the model learned from)."""
        import requests

        texts = [BUG_NOTE] + [note["text"] for note in self.github.emulator.sample.notes
                              if "bug" in note.get("kinds", ())][:500]
        bands = requests.post(predict_url, json={"instances": texts}).json()["bands"]
        for band in ("act", "suggest"):
            if band in bands:
                return texts[bands.index(band)], band == "act"
        raise DemoFailure("no bug fix's note reaches the model's suggest band")

    def deliver(self, url: str, secret: str, action: str, number: int, **more) -> None:
        """One signed webhook delivery about PR ``number``, and what the bot did with it."""
        import requests

        from ..serve.deliveries import settled

        body = json.dumps(dict({"action": action, "pull_request": {"number": number},
                                "repository": {"full_name": REPO}}, **more)).encode()
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        response = requests.post(url + "/webhook", data=body, headers={
            "X-GitHub-Event": "pull_request", "X-Hub-Signature-256": signature,
            "X-GitHub-Delivery": str(uuid.uuid4()), "Content-Type": "application/json"})
        outcome = settled(url, response.json().get("queued", ""))["outcome"]
        print(f"POST /webhook ({action} #{number}) -> {response.status_code}; the bot: label {outcome.get('label')}, "
              f"comment {outcome.get('comment')} ({outcome.get('why')})")

    def person(self, method: str, number: int, path: str, **json_body) -> None:
        """A maintainer's change on GitHub, with their own token."""
        import requests

        response = requests.request(method, f"{self.github.url}/repos/{REPO}/issues/{number}{path}",
                                    json=json_body or None, headers={"Authorization": f"token {PERSON_TOKEN}"})
        response.raise_for_status()

    def labels(self, number: int) -> list:
        return self.github.emulator.sample.labels(number)

    def comments(self, number: int) -> list:
        from ..bot.reconcile import MARKER

        sample = self.github.emulator.sample
        return [body for body in (sample.comment(cid, "")["body"] for cid in sample.comment_ids(number))
                if MARKER in body]

    def show(self, number: int, what: str) -> None:
        from ..bot.reconcile import MARKER

        print(f"PR #{number}, {what}:\n  labels: {', '.join(self.labels(number))}")
        for comment in self.comments(number):
            print("  comment:\n    " + comment.replace(MARKER, "").strip().replace("\n", "\n    "))

    def open_prs(self, count: int) -> list:
        found = [item["number"] for item in self.admin("GET", "dump")
                 if "pull_request" in item and item["state"] == "open"
                 and "kind/bug" not in {label["name"] for label in item["labels"]}][:count]
        if len(found) < count:
            raise DemoFailure(f"the sample has fewer than {count} open pull requests without kind/bug")
        return found

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
    os.environ["GITHUB_TOKEN"] = BOT_TOKEN  # the bot's identity on the emulator; a maintainer has their own
    os.environ.pop("GITHUB_TOKEN_FILE", None)
    with running(EmulatorConfig(items=args.items, users={BOT_TOKEN: BOT_LOGIN, PERSON_TOKEN: PERSON_LOGIN})) as github:
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
                       ("the bot's memory", f"{demo.model} (tables deliveries, applied, leases, bot_decisions)")):
        print(f"  {what:<20} {path}")
    return 0
