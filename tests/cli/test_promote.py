"""`keel promote`: the same digest in the target repository, pinned with keel:image.

ECR is botocore's Stubber (every request validated against the ECR model); the blobs come over
real HTTP from a loopback server, as ECR's presigned download URLs serve them.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess

import boto3
import pytest
from botocore.stub import ANY, Stubber
from keel import outputs as out
from keel.cli import main
from keel.cli.context import Context

from tests.loopback import serve

from .conftest import stack_outputs

SOURCE_REGION, TARGET_REGION = "eu-west-1", "eu-central-1"
SOURCE_ACCOUNT, TARGET_ACCOUNT = "111111111111", "222222222222"
SOURCE_REPO_URL = f"{SOURCE_ACCOUNT}.dkr.ecr.{SOURCE_REGION}.amazonaws.com/keel-staging"
TARGET_REPO_URL = f"{TARGET_ACCOUNT}.dkr.ecr.{TARGET_REGION}.amazonaws.com/keel-prod"


def digest_of(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


CONFIG = json.dumps({"architecture": "amd64", "os": "linux",
                     "config": {"Labels": {"org.opencontainers.image.revision": "0123456789abcdef"}}}).encode()
LAYERS = [b"layer one " * 1000, b"layer two " * 2000]
MANIFEST = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(CONFIG),
               "digest": digest_of(CONFIG)},
    "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": len(b), "digest": digest_of(b)}
               for b in LAYERS]})
MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
DIGEST = digest_of(MANIFEST.encode())
BLOBS = {digest_of(b): b for b in [CONFIG, *LAYERS]}


@pytest.fixture(scope="module")
def blob_server():
    """ECR's presigned layer URLs: each blob by its digest."""
    with serve(lambda path: (200, {}, BLOBS[path.lstrip("/")])) as url:
        yield url


def ecr(region):
    return boto3.client("ecr", region_name=region, aws_access_key_id="x", aws_secret_access_key="x")


def outputs(tmp_path, name, **values):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(stack_outputs(**{out.STACK: name, **values})))
    return path


def run_promote(tmp_path, source_client, target_client, image_ref):
    commands = []

    def record(command, **kwargs):
        commands.append(list(command))
        return subprocess.CompletedProcess(command, 0)

    clients = {SOURCE_REGION: source_client, TARGET_REGION: target_client}
    err = io.StringIO()
    stdout = io.StringIO()
    context = Context(stdout=stdout, stderr=err, client_factory=lambda service, region: clients[region],
                      which=lambda name: f"/usr/bin/{name}", run_process=record)
    code = main(["promote", "--from", "staging", "--to", "prod",
                 "--from-outputs", str(outputs(tmp_path, "staging", **{out.IMAGE_REF: image_ref,
                                                                        out.REGION: SOURCE_REGION})),
                 "--to-outputs", str(outputs(tmp_path, "prod", **{out.REPOSITORY_URL: TARGET_REPO_URL,
                                                                   out.REGION: TARGET_REGION}))], context)
    return code, commands, stdout.getvalue(), err.getvalue()


def stub_source_reads(stub, blob_server):
    """What promote reads before it copies: the tag, the manifest and config (the revision label), the manifest."""
    source = {"registryId": SOURCE_ACCOUNT, "repositoryName": "keel-staging"}
    stub.add_response("describe_images", {"imageDetails": [{"imageDigest": DIGEST, "imageTags": ["9f3c2a1b"]}]},
                      {**source, "imageIds": [{"imageDigest": DIGEST}]})
    image = {"images": [{"imageId": {"imageDigest": DIGEST}, "imageManifest": MANIFEST,
                         "imageManifestMediaType": MEDIA_TYPE}], "failures": []}
    get_image = {**source, "imageIds": [{"imageDigest": DIGEST}], "acceptedMediaTypes": ANY}
    stub.add_response("batch_get_image", image, get_image)
    stub.add_response("get_download_url_for_layer", {"downloadUrl": f"{blob_server}/{digest_of(CONFIG)}",
                                                     "layerDigest": digest_of(CONFIG)},
                      {**source, "layerDigest": digest_of(CONFIG)})
    stub.add_response("batch_get_image", image, get_image)
    return source


def stub_layers_present(stub, target: dict, present: set[str]) -> None:
    """The target registry's answer to BatchCheckLayerAvailability: ``present`` are there, the rest not."""
    stub.add_response("batch_check_layer_availability", {"layers": [
        {"layerDigest": d, "layerAvailability": "AVAILABLE" if d in present else "UNAVAILABLE"} for d in BLOBS]},
        {**target, "layerDigests": list(BLOBS)})


def test_promote_copies_by_digest_and_pins_the_target(tmp_path, blob_server):
    source_client, target_client = ecr(SOURCE_REGION), ecr(TARGET_REGION)
    target = {"registryId": TARGET_ACCOUNT, "repositoryName": "keel-prod"}
    with Stubber(source_client) as source_stub, Stubber(target_client) as target_stub:
        source = stub_source_reads(source_stub, blob_server)
        # The target already has the first layer; the config and the second layer are uploaded.
        stub_layers_present(target_stub, target, {digest_of(LAYERS[0])})
        for body in (CONFIG, LAYERS[1]):
            digest = digest_of(body)
            source_stub.add_response("get_download_url_for_layer", {"downloadUrl": f"{blob_server}/{digest}",
                                                                    "layerDigest": digest},
                                     {**source, "layerDigest": digest})
            target_stub.add_response("initiate_layer_upload", {"uploadId": f"up-{digest[-6:]}", "partSize": 1}, target)
            target_stub.add_response("upload_layer_part", {"uploadId": f"up-{digest[-6:]}"},
                                     {**target, "uploadId": f"up-{digest[-6:]}", "partFirstByte": 0,
                                      "partLastByte": len(body) - 1, "layerPartBlob": body})
            target_stub.add_response("complete_layer_upload", {"layerDigest": digest},
                                     {**target, "uploadId": f"up-{digest[-6:]}", "layerDigests": [digest]})
        target_stub.add_response("put_image", {"image": {"imageId": {"imageDigest": DIGEST, "imageTag": "9f3c2a1b"}}},
                                 {**target, "imageManifest": MANIFEST, "imageManifestMediaType": MEDIA_TYPE,
                                  "imageDigest": DIGEST, "imageTag": "9f3c2a1b"})

        code, commands, stdout, err = run_promote(tmp_path, source_client, target_client, f"{SOURCE_REPO_URL}@{DIGEST}")

        target_stub.assert_no_pending_responses()
    assert code == 0, err
    pinned = f"{TARGET_REPO_URL}@{DIGEST}"
    assert stdout.strip() == pinned
    assert commands == [["pulumi", "config", "set", "keel:image", pinned, "--stack", "prod"],
                        ["pulumi", "config", "set", "keel:imageRevision", "0123456789abcdef", "--stack", "prod"]]
    assert "revision 0123456789abcdef" in err


def test_a_tag_the_target_already_uses_gets_a_promotion_tag(tmp_path, blob_server):
    """prod built the same sources itself: same tag, other bytes; the promoted copy gets its own tag."""
    source_client, target_client = ecr(SOURCE_REGION), ecr(TARGET_REGION)
    target = {"registryId": TARGET_ACCOUNT, "repositoryName": "keel-prod"}
    with Stubber(source_client) as source_stub, Stubber(target_client) as target_stub:
        stub_source_reads(source_stub, blob_server)
        stub_layers_present(target_stub, target, set(BLOBS))
        put = {**target, "imageManifest": MANIFEST, "imageManifestMediaType": MEDIA_TYPE, "imageDigest": DIGEST}
        target_stub.add_client_error("put_image", "ImageTagAlreadyExistsException",
                                     expected_params={**put, "imageTag": "9f3c2a1b"})
        stub_layers_present(target_stub, target, set(BLOBS))
        promoted = "promoted-" + DIGEST.removeprefix("sha256:")[:12]
        target_stub.add_response("put_image", {"image": {"imageId": {"imageDigest": DIGEST, "imageTag": promoted}}},
                                 {**put, "imageTag": promoted})
        code, commands, stdout, err = run_promote(tmp_path, source_client, target_client, f"{SOURCE_REPO_URL}@{DIGEST}")
        target_stub.assert_no_pending_responses()
    assert code == 0, err
    assert stdout.strip() == f"{TARGET_REPO_URL}@{DIGEST}"


def test_a_tag_only_source_is_refused_before_anything_is_copied(tmp_path):
    source_client, target_client = ecr(SOURCE_REGION), ecr(TARGET_REGION)
    with Stubber(source_client), Stubber(target_client):  # any AWS call would fail the test
        code, commands, _, err = run_promote(tmp_path, source_client, target_client, f"{SOURCE_REPO_URL}:latest")
    assert code == 1 and commands == []
    assert "not an image by digest" in err and "a tag can move" in err


def test_a_blob_that_does_not_match_its_digest_stops_the_copy(tmp_path, blob_server, monkeypatch):
    source_client, target_client = ecr(SOURCE_REGION), ecr(TARGET_REGION)
    monkeypatch.setitem(BLOBS, digest_of(LAYERS[1]), b"tampered")
    target = {"registryId": TARGET_ACCOUNT, "repositoryName": "keel-prod"}
    with Stubber(source_client) as source_stub, Stubber(target_client) as target_stub:
        source = stub_source_reads(source_stub, blob_server)
        stub_layers_present(target_stub, target, set(BLOBS) - {digest_of(LAYERS[1])})
        digest = digest_of(LAYERS[1])
        source_stub.add_response("get_download_url_for_layer", {"downloadUrl": f"{blob_server}/{digest}",
                                                                "layerDigest": digest}, {**source, "layerDigest": digest})
        code, commands, _, err = run_promote(tmp_path, source_client, target_client, f"{SOURCE_REPO_URL}@{DIGEST}")
    assert code == 1 and commands == []
    assert "does not match its digest" in err
