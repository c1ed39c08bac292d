"""Copy an image from one ECR repository to another by digest: the same bytes, the same digest.

ECR has no server-side copy between repositories (or accounts, or regions), so this does what
`crane copy` does through ECR's API: every blob the manifest names (config and layers) that the
target lacks is downloaded from the source (GetDownloadUrlForLayer) and uploaded to the target
(InitiateLayerUpload, UploadLayerPart, CompleteLayerUpload), then the manifest goes in unchanged
with PutImage, so its digest stays the same. An index (multi-platform image, or one with build
attestations) has each of its manifests copied first. API: Amazon ECR API Reference.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.request
from dataclasses import dataclass
from typing import Any

DIGEST_REF = re.compile(r"^(?P<registry>[^/]+)/(?P<repository>[^@:]+)@(?P<digest>sha256:[0-9a-f]{64})$")
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json", *INDEX_TYPES)
PART_BYTES = 8 * 1024 * 1024  # UploadLayerPart: parts of at most 10 MiB except the last (ECR quotas)


class CopyError(Exception):
    """The image could not be copied; the message says which step and why."""


@dataclass(frozen=True)
class ImageRef:
    registry: str
    repository: str
    digest: str

    @classmethod
    def parse(cls, ref: str) -> ImageRef:
        found = DIGEST_REF.match(ref or "")
        if found is None:
            raise CopyError(f"{ref!r} is not an image by digest (REGISTRY/REPOSITORY@sha256:...): a tag can move, "
                            "so Keel deploys, promotes and rolls back only digests")
        return cls(found["registry"], found["repository"], found["digest"])

    @property
    def account(self) -> str:
        return self.registry.split(".", 1)[0]

    def __str__(self) -> str:
        return f"{self.registry}/{self.repository}@{self.digest}"


@dataclass(frozen=True)
class Manifest:
    body: str
    media_type: str

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.body.encode()).hexdigest()

    @property
    def document(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def children(self) -> list[str]:
        """The manifests an index points to (none for a single image)."""
        return [m["digest"] for m in self.document.get("manifests", [])] if self.media_type in INDEX_TYPES else []

    @property
    def blobs(self) -> list[str]:
        """The config and layer digests a single image's manifest names."""
        doc = self.document
        return ([doc["config"]["digest"]] if "config" in doc else []) + [layer["digest"] for layer in doc.get("layers", [])]


def get_manifest(ecr, repository: str, digest: str, registry_id: str) -> Manifest:
    found = ecr.batch_get_image(registryId=registry_id, repositoryName=repository, imageIds=[{"imageDigest": digest}],
                                acceptedMediaTypes=list(MANIFEST_TYPES))
    if not found.get("images"):
        reasons = "; ".join(f.get("failureReason", "") for f in found.get("failures", []))
        raise CopyError(f"{repository}@{digest} is not in the source repository ({reasons or 'not found'})")
    image = found["images"][0]
    manifest = Manifest(image["imageManifest"], image.get("imageManifestMediaType") or
                        json.loads(image["imageManifest"]).get("mediaType", MANIFEST_TYPES[0]))
    if manifest.digest != digest:
        raise CopyError(f"the source returned a manifest whose digest is {manifest.digest}, not {digest}")
    return manifest


def copy_image(source_ecr, source: ImageRef, target_ecr, target_repository: str, target_registry_id: str,
               tag: str | None, fetch=urllib.request.urlopen) -> str:
    """Copy ``source`` into ``target_repository`` (tagged ``tag``); returns the digest the target holds."""
    manifest = get_manifest(source_ecr, source.repository, source.digest, source.account)
    for child in manifest.children:
        _copy_manifest(source_ecr, source, get_manifest(source_ecr, source.repository, child, source.account),
                       target_ecr, target_repository, target_registry_id, None, fetch)
    return _copy_manifest(source_ecr, source, manifest, target_ecr, target_repository, target_registry_id, tag, fetch)


def image_config(source_ecr, source: ImageRef, fetch=urllib.request.urlopen) -> dict[str, Any]:
    """The image's config document (labels, platform) of a single image, or of an index's first image."""
    manifest = get_manifest(source_ecr, source.repository, source.digest, source.account)
    while manifest.children:
        manifest = get_manifest(source_ecr, source.repository, manifest.children[0], source.account)
    config_digest = manifest.document["config"]["digest"]
    return json.loads(_download(source_ecr, source, config_digest, fetch))


def _copy_manifest(source_ecr, source: ImageRef, manifest: Manifest, target_ecr, repository: str, registry_id: str,
                   tag: str | None, fetch) -> str:
    blobs = manifest.blobs
    if blobs:
        available = target_ecr.batch_check_layer_availability(
            registryId=registry_id, repositoryName=repository, layerDigests=blobs)["layers"]
        present = {layer["layerDigest"] for layer in available if layer.get("layerAvailability") == "AVAILABLE"}
        for digest in blobs:
            if digest not in present:
                _upload(target_ecr, repository, registry_id, digest, _download(source_ecr, source, digest, fetch))
    request = dict(registryId=registry_id, repositoryName=repository, imageManifest=manifest.body,
                   imageManifestMediaType=manifest.media_type, imageDigest=manifest.digest)
    if tag:
        request["imageTag"] = tag
    try:
        put = target_ecr.put_image(**request)
    except target_ecr.exceptions.ImageAlreadyExistsException:
        return manifest.digest  # promoted before: the same digest under the same tag
    except target_ecr.exceptions.ImageTagAlreadyExistsException:
        if tag == promotion_tag(manifest.digest):
            raise CopyError(f"the target repository {repository} holds another image tagged {tag!r}") from None
        # The target built the same sources itself (same tag, other bytes: builds are not reproducible):
        # the promoted image gets a tag of its own, which the repository's lifecycle rules keep too.
        return _copy_manifest(source_ecr, source, manifest, target_ecr, repository, registry_id,
                              promotion_tag(manifest.digest), fetch)
    digest = put["image"]["imageId"]["imageDigest"]
    if digest != manifest.digest:
        raise CopyError(f"the target stored digest {digest}, not {manifest.digest}")
    return digest


def promotion_tag(digest: str) -> str:
    """The tag a promoted image gets where the source's tag is taken: "promoted-" and 12 hex digits."""
    return "promoted-" + digest.removeprefix("sha256:")[:12]


def _download(source_ecr, source: ImageRef, digest: str, fetch) -> bytes:
    url = source_ecr.get_download_url_for_layer(registryId=source.account, repositoryName=source.repository,
                                                layerDigest=digest)["downloadUrl"]
    with fetch(url, timeout=300) as response:
        body = response.read()
    if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
        raise CopyError(f"blob {digest} downloaded from the source does not match its digest")
    return body


def _upload(target_ecr, repository: str, registry_id: str, digest: str, body: bytes) -> None:
    upload = target_ecr.initiate_layer_upload(registryId=registry_id, repositoryName=repository)["uploadId"]
    for first in range(0, len(body), PART_BYTES):
        part = body[first:first + PART_BYTES]
        target_ecr.upload_layer_part(registryId=registry_id, repositoryName=repository, uploadId=upload,
                                     partFirstByte=first, partLastByte=first + len(part) - 1, layerPartBlob=part)
    target_ecr.complete_layer_upload(registryId=registry_id, repositoryName=repository, uploadId=upload,
                                     layerDigests=[digest])
