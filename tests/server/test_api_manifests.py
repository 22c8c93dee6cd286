"""Manifests: push and pull by tag and digest, negotiation, validation and deletion."""

from __future__ import annotations

import json

import httpx
import pytest

from aiocontent import Store

from ._oci import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    Api,
    digest_of,
    error_codes,
    stored,
)


class TestPushPull:
    async def test_put_by_tag_answers_201_with_location_and_digest(self, api: Api) -> None:
        body = await api.image("repo")
        response = await api.put_manifest("repo", "latest", body)
        assert response.status_code == 201
        digest = digest_of(body)
        assert response.headers["docker-content-digest"] == digest
        assert response.headers["location"] == f"/v2/repo/manifests/{digest}"
        assert "oci-subject" not in response.headers

    @pytest.mark.parametrize("by", ["tag", "digest"])
    async def test_get_returns_the_exact_bytes_and_media_type(self, api: Api, by: str) -> None:
        digest, body = await api.push_image("repo", "v1")
        reference = "v1" if by == "tag" else digest
        response = await api.client.get(f"/v2/repo/manifests/{reference}")
        assert response.status_code == 200
        assert response.content == body
        assert response.headers["content-type"] == OCI_MANIFEST
        assert response.headers["docker-content-digest"] == digest
        assert response.headers["content-length"] == str(len(body))
        assert response.headers["etag"] == f'"{digest}"'

    async def test_head_has_the_headers_and_no_body(self, api: Api) -> None:
        digest, body = await api.push_image("repo", "v1")
        response = await api.client.head("/v2/repo/manifests/v1")
        assert response.status_code == 200
        assert response.content == b""
        assert response.headers["content-length"] == str(len(body))
        assert response.headers["docker-content-digest"] == digest

    async def test_if_none_match_is_304(self, api: Api) -> None:
        digest, _ = await api.push_image("repo", "v1")
        response = await api.client.get(
            "/v2/repo/manifests/v1", headers={"If-None-Match": f'"{digest}"'}
        )
        assert response.status_code == 304

    async def test_sha512_reference_stores_and_verifies_with_sha512(
        self, api: Api, store: Store
    ) -> None:
        body = await api.image("repo")
        digest = digest_of(body, "sha512")
        response = await api.put_manifest("repo", digest, body)
        assert response.status_code == 201
        assert response.headers["docker-content-digest"] == digest
        assert await stored(store, digest)
        assert (await api.client.get(f"/v2/repo/manifests/{digest}")).content == body

    async def test_tag_params_set_every_tag(self, api: Api) -> None:
        body = await api.image("repo")
        digest = digest_of(body)
        response = await api.client.put(
            f"/v2/repo/manifests/{digest}",
            params=[("tag", "a"), ("tag", "b")],
            content=body,
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert response.status_code == 201
        assert response.headers["oci-tag"] == "a, b"
        for tag in ("a", "b"):
            response = await api.client.get(f"/v2/repo/manifests/{tag}")
            assert response.headers["docker-content-digest"] == digest

    async def test_retagging_moves_the_tag(self, api: Api) -> None:
        await api.push_image("repo", "t", layers=[b"first"])
        second, _ = await api.push_image("repo", "t", layers=[b"second"])
        response = await api.client.head("/v2/repo/manifests/t")
        assert response.headers["docker-content-digest"] == second

    async def test_docker_schema2_manifest_and_list(self, api: Api) -> None:
        body = await api.image("repo", media_type=DOCKER_MANIFEST)
        response = await api.put_manifest("repo", "img", body, DOCKER_MANIFEST)
        assert response.status_code == 201
        child = response.headers["docker-content-digest"]
        listing = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": DOCKER_LIST,
                "manifests": [
                    {
                        "mediaType": DOCKER_MANIFEST,
                        "digest": child,
                        "size": len(body),
                        "platform": {"architecture": "amd64", "os": "linux"},
                    }
                ],
            }
        ).encode()
        assert (await api.put_manifest("repo", "list", listing, DOCKER_LIST)).status_code == 201
        response = await api.client.get("/v2/repo/manifests/list")
        assert response.headers["content-type"] == DOCKER_LIST
        assert response.content == listing

    async def test_media_type_may_come_from_content_type_only(self, api: Api) -> None:
        doc = json.loads(await api.image("repo"))
        del doc["mediaType"]
        body = json.dumps(doc).encode()
        assert (await api.put_manifest("repo", "t", body, OCI_MANIFEST)).status_code == 201
        response = await api.client.get("/v2/repo/manifests/t")
        assert response.headers["content-type"] == OCI_MANIFEST


class TestNegotiation:
    async def test_tag_whose_type_accept_excludes_is_404(self, api: Api) -> None:
        await api.push_image("repo", "v1")
        response = await api.client.get(
            "/v2/repo/manifests/v1", headers={"Accept": DOCKER_MANIFEST}
        )
        assert response.status_code == 404
        assert error_codes(response) == ["MANIFEST_UNKNOWN"]

    @pytest.mark.parametrize(
        "accept", [OCI_MANIFEST, f"{DOCKER_MANIFEST}, {OCI_MANIFEST};q=0.5", "*/*", ""]
    )
    async def test_tag_whose_type_accept_admits_is_served(self, api: Api, accept: str) -> None:
        await api.push_image("repo", "v1")
        response = await api.client.get("/v2/repo/manifests/v1", headers={"Accept": accept})
        assert response.status_code == 200

    async def test_one_accept_header_per_type_is_read_whole(self, api: Api) -> None:
        await api.push_image("repo", "v1")
        headers = [("Accept", DOCKER_MANIFEST), ("Accept", OCI_MANIFEST)]
        response = await api.client.get("/v2/repo/manifests/v1", headers=headers)
        assert response.status_code == 200

    async def test_by_digest_the_bytes_are_served_whatever_accept_says(self, api: Api) -> None:
        digest, body = await api.push_image("repo", "v1")
        response = await api.client.get(
            f"/v2/repo/manifests/{digest}", headers={"Accept": DOCKER_MANIFEST}
        )
        assert response.content == body


class TestValidation:
    async def _rejected(
        self, api: Api, store: Store, body: bytes, media_type: str = OCI_MANIFEST
    ) -> list[str]:
        response = await api.put_manifest("repo", "bad", body, media_type)
        assert response.status_code in (400, 413), response.text
        assert not await stored(store, digest_of(body))
        assert (await api.client.get("/v2/repo/manifests/bad")).status_code == 404
        return error_codes(response)

    @pytest.mark.parametrize(
        "body",
        [
            b"not json",
            b"[1, 2]",
            b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}',
            b'{"schemaVersion": 1, "mediaType": "application/vnd.oci.image.manifest.v1+json",'
            b' "config": {}, "layers": []}',
            b"\xff\xfe",
        ],
    )
    async def test_malformed_bodies_are_manifest_invalid(
        self, api: Api, store: Store, body: bytes
    ) -> None:
        assert await self._rejected(api, store, body) == ["MANIFEST_INVALID"]

    @pytest.mark.parametrize(
        "layer",
        [
            {"mediaType": "x", "digest": "sha256:nothex", "size": 1},
            {"mediaType": "x", "digest": digest_of(b"a"), "size": -1},
            {"mediaType": "x", "digest": digest_of(b"a"), "size": "1"},
            {"digest": digest_of(b"a"), "size": 1},
            "a string",
        ],
    )
    async def test_malformed_descriptors_are_manifest_invalid(
        self, api: Api, store: Store, layer: object
    ) -> None:
        doc = json.loads(await api.image("repo"))
        doc["layers"] = [layer]
        assert await self._rejected(api, store, json.dumps(doc).encode()) == ["MANIFEST_INVALID"]

    async def test_unknown_media_type_is_manifest_invalid(self, api: Api, store: Store) -> None:
        doc = json.loads(await api.image("repo"))
        doc["mediaType"] = "application/vnd.example+json"
        body = json.dumps(doc).encode()
        codes = await self._rejected(api, store, body, "application/vnd.example+json")
        assert codes == ["MANIFEST_INVALID"]

    async def test_content_type_contradicting_media_type_is_invalid(
        self, api: Api, store: Store
    ) -> None:
        body = await api.image("repo")
        assert await self._rejected(api, store, body, DOCKER_MANIFEST) == ["MANIFEST_INVALID"]

    async def test_missing_blobs_are_each_manifest_blob_unknown(
        self, api: Api, store: Store
    ) -> None:
        doc = json.loads(await api.image("repo"))
        doc["layers"] += [api.descriptor("x", b"absent one"), api.descriptor("x", b"absent two")]
        codes = await self._rejected(api, store, json.dumps(doc).encode())
        assert codes == ["MANIFEST_BLOB_UNKNOWN", "MANIFEST_BLOB_UNKNOWN"]

    async def test_blob_of_another_repository_does_not_count(self, api: Api, store: Store) -> None:
        body = await api.image("other")  # config and one layer, pushed to "other" only
        codes = await self._rejected(api, store, body)
        assert codes == ["MANIFEST_BLOB_UNKNOWN", "MANIFEST_BLOB_UNKNOWN"]

    async def test_index_naming_a_missing_manifest_is_refused(self, api: Api, store: Store) -> None:
        index = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [api.descriptor(OCI_MANIFEST, b"no such manifest")],
        }
        codes = await self._rejected(api, store, json.dumps(index).encode(), OCI_INDEX)
        assert codes == ["MANIFEST_BLOB_UNKNOWN"]

    async def test_foreign_layers_with_urls_need_not_be_pushed(self, api: Api) -> None:
        doc = json.loads(await api.image("repo"))
        doc["layers"].append(api.descriptor("x", b"foreign", urls=["https://example.com/l"]))
        response = await api.put_manifest("repo", "t", json.dumps(doc).encode())
        assert response.status_code == 201

    async def test_digest_reference_not_matching_the_body_is_digest_invalid(
        self, api: Api, store: Store
    ) -> None:
        body = await api.image("repo")
        response = await api.put_manifest("repo", digest_of(body + b"  "), body)
        assert response.status_code == 400
        assert error_codes(response) == ["DIGEST_INVALID"]
        assert not await stored(store, digest_of(body))

    async def test_manifest_over_4_mib_is_413(self, api: Api, store: Store) -> None:
        doc = json.loads(await api.image("repo"))
        doc["annotations"] = {"pad": "x" * (4 << 20)}
        assert await self._rejected(api, store, json.dumps(doc).encode()) == ["SIZE_INVALID"]

    async def test_manifest_of_exactly_4_mib_is_accepted(self, api: Api) -> None:
        doc = json.loads(await api.image("repo"))
        doc["annotations"] = {"pad": ""}
        filler = (4 << 20) - len(json.dumps(doc).encode())
        doc["annotations"] = {"pad": "x" * filler}
        body = json.dumps(doc).encode()
        assert len(body) == 4 << 20
        assert (await api.put_manifest("repo", "big", body)).status_code == 201
        response = await api.client.get("/v2/repo/manifests/big")
        assert response.status_code == 200
        assert response.content == body

    @pytest.mark.parametrize("tag", ["-dash", ".dot", "t" * 129, "a+b"])
    async def test_invalid_tags_are_tag_invalid(self, api: Api, tag: str) -> None:
        body = await api.image("repo")
        response = await api.put_manifest("repo", tag, body)
        assert response.status_code == 400
        assert error_codes(response) == ["TAG_INVALID"]


class TestDelete:
    async def test_delete_by_digest_removes_the_manifest_and_its_tags(self, api: Api) -> None:
        digest, _ = await api.push_image("repo", "v1")
        response = await api.client.delete(f"/v2/repo/manifests/{digest}")
        assert response.status_code == 202
        assert (await api.client.get(f"/v2/repo/manifests/{digest}")).status_code == 404
        assert (await api.client.get("/v2/repo/manifests/v1")).status_code == 404

    async def test_delete_by_tag_keeps_the_manifest(self, api: Api) -> None:
        digest, _ = await api.push_image("repo", "v1")
        response = await api.client.delete("/v2/repo/manifests/v1")
        assert response.status_code == 202
        assert (await api.client.get("/v2/repo/manifests/v1")).status_code == 404
        assert (await api.client.get(f"/v2/repo/manifests/{digest}")).status_code == 200

    async def test_delete_of_unknown_manifest_is_404(self, api: Api) -> None:
        await api.push_image("repo", "v1")
        for reference in ("nope", digest_of(b"nope")):
            response = await api.client.delete(f"/v2/repo/manifests/{reference}")
            assert response.status_code == 404
            assert error_codes(response) == ["MANIFEST_UNKNOWN"]


class TestUnknown:
    async def test_unknown_tag_is_manifest_unknown(self, api: Api) -> None:
        await api.push_image("repo", "v1")
        response = await api.client.get("/v2/repo/manifests/v2")
        assert response.status_code == 404
        assert error_codes(response) == ["MANIFEST_UNKNOWN"]

    async def test_unknown_repository_is_name_unknown(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/v2/nothing/manifests/latest")
        assert response.status_code == 404
        assert error_codes(response) == ["NAME_UNKNOWN"]

    async def test_unknown_digest_is_manifest_unknown(self, client: httpx.AsyncClient) -> None:
        response = await client.head(f"/v2/repo/manifests/{digest_of(b'x')}")
        assert response.status_code == 404

    async def test_malformed_digest_reference_is_400(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/v2/repo/manifests/sha256:baddigeststring")
        assert response.status_code == 400
        assert error_codes(response) == ["DIGEST_INVALID"]

    async def test_manifest_of_another_repository_is_not_served(self, api: Api) -> None:
        digest, _ = await api.push_image("one", "v1")
        response = await api.client.get(f"/v2/two/manifests/{digest}")
        assert response.status_code == 404
