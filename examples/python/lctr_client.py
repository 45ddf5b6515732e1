#!/usr/bin/env python3
"""A client for a model served by lctr's server (packages/server) or by Triton.

Standard library only (urllib, json). Two ways to score the same request:

- ``score(body)``: POST /score with lctr's own JSON ({"user": {...}, "candidates": [...]} or
  {"samples": [...]}); lctr's server only.
- ``infer(model, body)``: the Open Inference Protocol (KServe v2, what Triton speaks), POST
  /v2/models/{model}/infer with JSON tensors. The tensors are built from the same body and the
  model's v2 metadata (GET /v2/models/{model}) alone, so this works against lctr's server and
  against Triton serving the same model directory. With ``--triton`` (and tritonclient installed)
  the call goes through ``tritonclient.http`` instead of urllib.

Command line (prints {"score": [...], "v2": [...]} as JSON; "score" is left out with --v2-only,
e.g. against Triton, which has no /score):

    python3 examples/python/lctr_client.py --url http://127.0.0.1:8080 --model lcn --request body.json
        [--token-file FILE] [--v2-only] [--triton]
"""
import argparse
import json
import sys
import urllib.error
import urllib.request


class LctrError(Exception):
    """A refused request: the server's status and its error message."""

    def __init__(self, status, message):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


def _shape(value):
    """The shape of a JSON value: nested lists -> their lengths, a number -> []."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        value = value[0] if value else None
    return shape


def _flat(value):
    if not isinstance(value, list):
        return [value]
    out = []
    for v in value:
        out.extend(_flat(v))
    return out


def v2_inputs(metadata, body):
    """The v2 JSON tensors of an lctr request body, shaped as the model's metadata (config.pbtxt) declares.

    Per-request bodies: each user-side value becomes [1, ...]; candidate values stack to [C, ...]
    (per-request layout) or [1, C, ...] (candidate-set layout, told apart by the input's rank);
    an input the body does not carry on the candidate side (a candidate-set model's candMask) is
    all true. Batch bodies ({"samples"}): values stack to [B, ...], a scalar as [B, 1].
    """
    inputs = []
    if "samples" in body:
        rows_of = {m["name"]: [s[m["name"]] for s in body["samples"]] for m in metadata["inputs"]}
        for m in metadata["inputs"]:
            rows = rows_of[m["name"]]
            inner = _shape(rows[0]) or [1]
            inputs.append({"name": m["name"], "datatype": m["datatype"], "shape": [len(rows)] + inner, "data": _flat(rows)})
        return _bools(inputs)
    user, candidates = body["user"], body["candidates"]
    n = len(candidates)
    for m in metadata["inputs"]:
        name, rank = m["name"], len(m["shape"])
        if name in user:
            value = user[name]
            inputs.append({"name": name, "datatype": m["datatype"], "shape": [1] + _shape(value), "data": _flat(value)})
            continue
        if candidates and name in candidates[0]:
            rows = [c[name] for c in candidates]
            inner = _shape(rows[0])
            lead = [n] if rank == 1 + len(inner) else [1, n]
            inputs.append({"name": name, "datatype": m["datatype"], "shape": lead + inner, "data": _flat(rows)})
            continue
        # filled by lctr's /score (a candidate-set model's candidate mask): every listed candidate is valid
        inputs.append({"name": name, "datatype": m["datatype"], "shape": [1, n], "data": [True] * n})
    return _bools(inputs)


def _bools(inputs):
    for t in inputs:
        if t["datatype"] == "BOOL":
            t["data"] = [bool(v) for v in t["data"]]
    return inputs


class LctrClient:
    def __init__(self, url, token=None, timeout=30.0):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _call(self, method, path, body=None):
        headers = {"accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["content-type"] = "application/json"
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return json.loads(r.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            text = e.read().decode("utf-8", "replace")
            try:
                message = json.loads(text).get("error", text)
            except ValueError:
                message = text
            raise LctrError(e.code, message) from None

    def health(self):
        return self._call("GET", "/health")

    def metadata(self, model):
        return self._call("GET", f"/v2/models/{model}")

    def score(self, body):
        """lctr's /score: one score per candidate (sample), in request order."""
        return self._call("POST", "/score", body)["scores"]

    def infer(self, model, body, output="prob"):
        """The v2 infer route: the same scores, through the Open Inference Protocol."""
        request = {"inputs": v2_inputs(self.metadata(model), body), "outputs": [{"name": output}]}
        answer = self._call("POST", f"/v2/models/{model}/infer", request)
        return next(o for o in answer["outputs"] if o["name"] == output)["data"]


def infer_with_tritonclient(url, model, body, output="prob", token=None):
    """The same v2 call through tritonclient.http (pip install tritonclient[http]), JSON tensors only."""
    import numpy as np
    import tritonclient.http as httpclient

    host = url.split("://", 1)[-1].rstrip("/")
    client = httpclient.InferenceServerClient(url=host)
    tensors = v2_inputs(client.get_model_metadata(model), body)
    dtypes = {"FP32": np.float32, "INT32": np.int32, "INT64": np.int64, "BOOL": np.bool_}
    inputs = []
    for t in tensors:
        i = httpclient.InferInput(t["name"], t["shape"], t["datatype"])
        # binary_data=False: JSON tensors (lctr's server refuses the binary extension)
        i.set_data_from_numpy(np.array(t["data"], dtype=dtypes[t["datatype"]]).reshape(t["shape"]), binary_data=False)
        inputs.append(i)
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    result = client.infer(model, inputs, outputs=[httpclient.InferRequestedOutput(output, binary_data=False)], headers=headers)
    return result.as_numpy(output).reshape(-1).tolist()


def main(argv=None):
    p = argparse.ArgumentParser(description="Score one request by /score and by v2 infer.")
    p.add_argument("--url", required=True, help="server base URL, e.g. http://127.0.0.1:8080")
    p.add_argument("--model", required=True, help="model name (the model directory's name)")
    p.add_argument("--request", required=True, help="a JSON file holding an lctr request body")
    p.add_argument("--token-file", help="file holding the bearer token (--token-file of the server)")
    p.add_argument("--v2-only", action="store_true", help="skip /score (e.g. against Triton)")
    p.add_argument("--triton", action="store_true", help="make the v2 call through tritonclient.http")
    args = p.parse_args(argv)
    token = open(args.token_file).read().strip() if args.token_file else None
    with open(args.request) as f:
        body = json.load(f)
    client = LctrClient(args.url, token)
    out = {}
    try:
        if not args.v2_only:
            out["score"] = client.score(body)
        out["v2"] = infer_with_tritonclient(args.url, args.model, body, token=token) if args.triton else client.infer(args.model, body)
    except LctrError as e:
        print(f"lctr_client: {e}", file=sys.stderr)
        return 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
