"""Tags list and catalog with pagination, and the referrers API."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from ._oci import OCI_INDEX, OCI_MANIFEST, Api, digest_of, error_codes

TAGS = ["a", "b", "c", "d", "e"]


async def _tagged(api: Api, repo: str = "repo") -> None:
    body = await api.image(repo)
    for tag in reversed(TAGS):
        assert (await api.put_manifest(repo, tag, body)).status_code == 201


class TestTags:
    async def test_lists_every_tag_sorted(self, api: Api) -> None:
        await _tagged(api)
        response = await api.client.get("/v2/repo/tags/list")
        assert response.status_code == 200
        assert response.json() == {"name": "repo", "tags": TAGS}
        assert "link" not in response.headers

    async def test_n_limits_and_link_points_to_the_next_page(self, api: Api) -> None:
        await _tagged(api)
        response = await api.client.get("/v2/repo/tags/list", params={"n": 2})
        assert response.json()["tags"] == ["a", "b"]
        assert response.headers["link"] == '</v2/repo/tags/list?n=2&last=b>; rel="next"'

    async def test_following_links_visits_every_tag_once(self, api: Api) -> None:
        await _tagged(api)
        seen: list[str] = []
        url: str | None = "/v2/repo/tags/list?n=2"
        while url is not None:
            response = await api.client.get(url)
            seen += response.json()["tags"]
            link = response.headers.get("link")
            url = link[1 : link.index(">")] if link else None
        assert seen == TAGS

    async def test_last_starts_after_the_given_tag(self, api: Api) -> None:
        await _tagged(api)
        response = await api.client.get("/v2/repo/tags/list", params={"last": "b"})
        assert response.json()["tags"] == ["c", "d", "e"]

    async def test_last_page_has_no_link(self, api: Api) -> None:
        await _tagged(api)
        response = await api.client.get("/v2/repo/tags/list", params={"n": 3, "last": "b"})
        assert response.json()["tags"] == ["c", "d", "e"]
        assert "link" not in response.headers

    async def test_n_zero_is_an_empty_list_without_link(self, api: Api) -> None:
        await _tagged(api)
        response = await api.client.get("/v2/repo/tags/list", params={"n": 0})
        assert response.json() == {"name": "repo", "tags": []}
        assert "link" not in response.headers

    @pytest.mark.parametrize("n", ["-1", "two", "1e3", "9" * 12])
    async def test_malformed_n_is_400(self, api: Api, n: str) -> None:
        await _tagged(api)
        response = await api.client.get("/v2/repo/tags/list", params={"n": n})
        assert response.status_code == 400
        assert error_codes(response)

    async def test_unknown_repository_is_404_name_unknown(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/v2/nothing/tags/list")
        assert response.status_code == 404
        assert error_codes(response) == ["NAME_UNKNOWN"]

    async def test_repository_with_blobs_only_lists_no_tags(self, api: Api) -> None:
        await api.push_blob("repo", b"blob")
        response = await api.client.get("/v2/repo/tags/list")
        assert response.json() == {"name": "repo", "tags": []}


class TestCatalog:
    async def test_lists_repositories_sorted(self, api: Api) -> None:
        for repo in ("zeta", "alpha/one", "alpha"):
            await api.push_blob(repo, b"x")
        response = await api.client.get("/v2/_catalog")
        assert response.json() == {"repositories": ["alpha", "alpha/one", "zeta"]}

    async def test_paginates_with_n_last_and_link(self, api: Api) -> None:
        for repo in ("r1", "r2", "r3"):
            await api.push_blob(repo, b"x")
        response = await api.client.get("/v2/_catalog", params={"n": 2})
        assert response.json() == {"repositories": ["r1", "r2"]}
        assert response.headers["link"] == '</v2/_catalog?n=2&last=r2>; rel="next"'
        response = await api.client.get("/v2/_catalog", params={"n": 2, "last": "r2"})
        assert response.json() == {"repositories": ["r3"]}
        assert "link" not in response.headers

    async def test_empty_registry_lists_nothing(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/v2/_catalog")).json() == {"repositories": []}


class TestReferrers:
    async def _referrer(
        self, api: Api, subject: str, size: int, artifact_type: str, tag: str
    ) -> str:
        fields: dict[str, Any] = {
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": size},
            "annotations": {"org.example": tag},
        }
        if artifact_type:
            fields["artifactType"] = artifact_type
        body = await api.image("repo", layers=[tag.encode()], **fields)
        response = await api.put_manifest("repo", tag, body)
        assert response.status_code == 201
        assert response.headers["oci-subject"] == subject
        return response.headers["docker-content-digest"]

    async def test_lists_manifests_naming_the_subject(self, api: Api) -> None:
        subject, body = await api.push_image("repo", "base")
        sig = await self._referrer(api, subject, len(body), "application/x-sig", "sig")
        sbom = await self._referrer(api, subject, len(body), "", "sbom")
        response = await api.client.get(f"/v2/repo/referrers/{subject}")
        assert response.status_code == 200
        assert response.headers["content-type"] == OCI_INDEX
        assert "oci-filters-applied" not in response.headers
        index = response.json()
        assert index["schemaVersion"] == 2
        assert index["mediaType"] == OCI_INDEX
        by_digest = {m["digest"]: m for m in index["manifests"]}
        assert set(by_digest) == {sig, sbom}
        assert by_digest[sig]["artifactType"] == "application/x-sig"
        # without artifactType the config's media type stands in
        assert by_digest[sbom]["artifactType"] == "application/vnd.oci.image.config.v1+json"
        assert by_digest[sig]["annotations"] == {"org.example": "sig"}
        assert by_digest[sig]["mediaType"] == OCI_MANIFEST

    async def test_artifact_type_filter_is_applied_and_reported(self, api: Api) -> None:
        subject, body = await api.push_image("repo", "base")
        sig = await self._referrer(api, subject, len(body), "application/x-sig", "sig")
        await self._referrer(api, subject, len(body), "application/x-sbom", "sbom")
        response = await api.client.get(
            f"/v2/repo/referrers/{subject}", params={"artifactType": "application/x-sig"}
        )
        assert response.headers["oci-filters-applied"] == "artifactType"
        assert [m["digest"] for m in response.json()["manifests"]] == [sig]

    async def test_subject_need_not_exist(self, api: Api) -> None:
        absent = digest_of(b"not pushed yet")
        referrer = await self._referrer(api, absent, 123, "application/x-sig", "sig")
        response = await api.client.get(f"/v2/repo/referrers/{absent}")
        assert [m["digest"] for m in response.json()["manifests"]] == [referrer]

    async def test_unknown_subject_is_an_empty_index(self, client: httpx.AsyncClient) -> None:
        response = await client.get(f"/v2/repo/referrers/{digest_of(b'x')}")
        assert response.status_code == 200
        assert response.json() == {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}

    async def test_deleted_referrer_disappears(self, api: Api) -> None:
        subject, body = await api.push_image("repo", "base")
        sig = await self._referrer(api, subject, len(body), "application/x-sig", "sig")
        await api.client.delete(f"/v2/repo/manifests/{sig}")
        response = await api.client.get(f"/v2/repo/referrers/{subject}")
        assert response.json()["manifests"] == []

    async def test_index_with_subject_is_a_referrer(self, api: Api) -> None:
        subject, body = await api.push_image("repo", "base")
        index = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "artifactType": "application/x-bundle",
            "manifests": [],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": len(body)},
        }
        response = await api.put_manifest("repo", "bundle", json.dumps(index).encode(), OCI_INDEX)
        assert response.status_code == 201
        response = await api.client.get(f"/v2/repo/referrers/{subject}")
        [entry] = response.json()["manifests"]
        assert entry["mediaType"] == OCI_INDEX
        assert entry["artifactType"] == "application/x-bundle"

    async def test_malformed_digest_is_400(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/v2/repo/referrers/sha256:nope")
        assert response.status_code == 400
        assert error_codes(response) == ["DIGEST_INVALID"]
