"""Term frequencies: a common name or postcode agreeing weighs less than a rare one; pure.

As Splink's term-frequency adjustments: agreeing on a value of frequency tf is
worth log2(u_exact / tf) bits less than the exact level's weight says, where
u_exact is how often the exact level occurs between two different people.
`dvtrigger calibrate` writes the table (`TermFrequencies`) from the register.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

#: The most a term frequency takes off an exact agreement, in bits.
MAX_TF_BITS = 8.0


class TermFrequencies(BaseModel):
    """How often each common value occurs in the register, by field (Splink's tf tables).

    Only values commoner than the exact level's u are kept: the others would
    add weight, and a rare value is left to the level's weight.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    u_exact: dict[str, float] = Field(
        default_factory=dict, description="Per field, the u probability of exact agreement."
    )
    values: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="Per field, a value's key and its frequency."
    )


def tf_adjustment(table: TermFrequencies, field: str, key: str | None) -> float:
    """Bits to add to an exact agreement on the value `key`: log2(u_exact / tf), at most 0.

    0 when the value is not in the table (not common); at least -MAX_TF_BITS.
    """
    tf = table.values.get(field, {}).get(key) if key else None
    if tf is None or tf <= 0:
        return 0.0
    return max(-MAX_TF_BITS, min(0.0, math.log2(table.u_exact[field] / tf)))
