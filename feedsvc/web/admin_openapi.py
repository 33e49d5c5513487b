"""The admin API's entries in the OpenAPI document (web/api/admin.py's endpoints).

Kept apart from web/openapi.py, which merges them into its OPERATIONS right after defining
`Operation`; import this module only through web/openapi.py.
"""

from __future__ import annotations

from typing import Any

from feedsvc.web import schemas
from feedsvc.web.openapi import Operation, query

BODY_PROBLEMS = (400, 413, 422)  # as in web/openapi.py: malformed, too large, invalid
ADMIN = " Admin role only: editors and partners get 403."

# Examples name what tests/test_schemathesis.py seeds for the admin operations.
ADMIN_PATH_PARAMETERS: dict[str, tuple[str, Any]] = {
    "user_id": ("the user's numeric id", 1),
    "token_id": ("the token's numeric id", 1),
    "partner_id": ("the partner's numeric id", 1),
}

ADMIN_OPERATIONS: dict[tuple[str, str], Operation] = {
    ("api.admin.list_users", "GET"): Operation(
        "List desk users", schemas.UserList, description=ADMIN
    ),
    ("api.admin.create_user", "POST"): Operation(
        "Create a desk user",
        schemas.UserOut,
        status=201,
        body=schemas.UserCreate,
        problems=(409, *BODY_PROBLEMS),
        examples={
            "editor": {"username": "王編輯", "password": "correct horse 1", "role": "editor"}
        },
        description="The password is stored scrypt-hashed." + ADMIN,
    ),
    ("api.admin.disable_user", "POST"): Operation(
        "Disable a desk user: no sign-in, open sessions end",
        schemas.UserOut,
        problems=(404,),
        description=ADMIN,
    ),
    ("api.admin.list_tokens", "GET"): Operation(
        "List API tokens (never their values)", schemas.TokenList, description=ADMIN
    ),
    ("api.admin.create_token", "POST"): Operation(
        "Create an API token",
        schemas.TokenCreated,
        status=201,
        body=schemas.TokenCreate,
        problems=BODY_PROBLEMS,
        examples={"editor": {"role": "editor", "label": "newsroom script"}},
        description="The answer holds the token; it is stored only hashed." + ADMIN,
    ),
    ("api.admin.revoke_token", "DELETE"): Operation(
        "Revoke an API token", status=204, problems=(404,), description=ADMIN
    ),
    ("api.admin.list_partners", "GET"): Operation(
        "List partners with their grants and tokens", schemas.PartnerList, description=ADMIN
    ),
    ("api.admin.create_partner", "POST"): Operation(
        "Create a partner",
        schemas.PartnerOut,
        status=201,
        body=schemas.PartnerCreate,
        problems=(409, *BODY_PROBLEMS),
        examples={"partner": {"name": "大象新聞"}},
        description=ADMIN,
    ),
    ("api.admin.read_partner", "GET"): Operation(
        "Read a partner", schemas.PartnerOut, problems=(404,), description=ADMIN
    ),
    ("api.admin.grant_feed", "POST"): Operation(
        "Grant a partner a feed (every archive page of it too)",
        schemas.PartnerOut,
        body=schemas.FeedGrant,
        problems=(404, *BODY_PROBLEMS),
        examples={"section": {"feed": "/feeds/sections/lehuo-hot"}},
        description=ADMIN,
    ),
    ("api.admin.withdraw_grant", "DELETE"): Operation(
        "Withdraw a grant (harmless when there is none)",
        status=204,
        problems=(404, 422),
        description="`feed` is the feed path without its leading slash." + ADMIN,
    ),
    ("api.admin.revoke_partner", "POST"): Operation(
        "Revoke a partner: its tokens and signed URLs are refused from the next request",
        schemas.PartnerOut,
        problems=(404,),
        description=ADMIN,
    ),
    ("api.admin.rotate_secret", "POST"): Operation(
        "Rotate a partner's URL-signing secret: every signed URL so far stops working",
        schemas.PartnerOut,
        problems=(404,),
        description=ADMIN,
    ),
    ("api.admin.mint_partner_token", "POST"): Operation(
        "Mint a bearer token for a partner",
        schemas.PartnerTokenCreated,
        status=201,
        body=schemas.PartnerTokenCreate,
        problems=(404, 409, *BODY_PROBLEMS),
        examples={"reader": {"label": "their aggregator"}},
        description="The answer holds the token; it is stored only hashed." + ADMIN,
    ),
    ("api.admin.revoke_partner_token", "DELETE"): Operation(
        "Revoke one of a partner's tokens", status=204, problems=(404,), description=ADMIN
    ),
    ("api.admin.signed_url", "GET"): Operation(
        "A signed Atom URL of a feed for a partner",
        schemas.SignedUrl,
        query=(
            {
                **query(
                    "feed",
                    "the feed: /feeds/all, /feeds/tags/<slug>, /feeds/sections/<slug>",
                    {"type": "string", "minLength": 1},
                ),
                "required": True,
                "example": "/feeds/sections/lehuo-hot",
            },
        ),
        problems=(404, 409, 422),
        description="The signature names the feed, so it also opens the feed's archive "
        "pages. The URL works while the feed is granted." + ADMIN,
    ),
    ("api.admin.list_pulls", "GET"): Operation(
        "A partner's pulls, newest first",
        schemas.PartnerPullList,
        query=(
            query(
                "limit",
                "how many",
                {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
            ),
        ),
        problems=(404, 422),
        description=ADMIN,
    ),
}
