"""The tunable parts of the rule: thresholds, match weights, time zone; settings read them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from streams.domain.matching.frequencies import TermFrequencies
from streams.domain.register.records import MAX_GESTATION_DAYS


class MatchWeights(BaseModel):
    """Match weights in bits (log2 of m/u) by field and agreement level, and the prior.

    The defaults are set so that two fields agreeing exactly and a third close
    (a typing error, a short form, a date one field off) trigger; thinner
    evidence, such as names alone or names and a reported age, goes to review.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    prior: float = Field(-10.0, description="log2 prior odds of one human being, before fields.")
    nhs_agree: float = Field(20.0, description="Checksum-valid NHS numbers agree: decisive.")
    nhs_conflict: float = Field(-12.0, description="Both sides have valid, different numbers.")
    given_exact: float = Field(6.0, description="Given name agrees (any spelling seen).")
    given_first_forename: float = Field(
        6.0, description="First forename agrees, other forenames written on one side only."
    )
    given_variant: float = Field(4.5, description="Known short form or variant, or a prefix.")
    given_typo: float = Field(4.0, description="One typing error apart (4+ letters).")
    given_phonetic: float = Field(3.5, description="Same Metaphone and NYSIIS codes.")
    given_similar: float = Field(1.5, description="Jaro-Winkler similarity of 0.9 or more.")
    given_part: float = Field(3.0, description="One part of a given name written in parts.")
    given_initial: float = Field(
        2.0, description="One name is the initial of the other (about one stranger in ten agrees)."
    )
    given_differ: float = Field(
        -5.0, description="Given names differ (a replaced name is common in records)."
    )
    family_exact: float = Field(7.0, description="Family name agrees (any surname seen).")
    family_part: float = Field(5.5, description="One part of a double-barrelled surname.")
    family_typo: float = Field(4.5, description="One typing error apart (4+ letters).")
    family_phonetic: float = Field(4.0, description="Same Metaphone and NYSIIS codes.")
    family_household: float = Field(
        4.0, description="The surname of another carer or of the child (a partner's surname)."
    )
    family_similar: float = Field(1.5, description="Jaro-Winkler similarity of 0.9 or more.")
    family_differ: float = Field(
        -4.5, description="Family names differ (a replaced name is common in records)."
    )
    dob_exact: float = Field(9.0, description="Date of birth agrees.")
    dob_swapped: float = Field(6.0, description="Day and month swapped.")
    dob_near: float = Field(5.0, description="A year off (same day and month), or a day off.")
    dob_typo: float = Field(3.5, description="One digit of the date differs.")
    dob_partial: float = Field(2.0, description="One of day, month or year differs otherwise.")
    dob_differ: float = Field(
        -6.0, description="Dates of birth differ: weighs against; names and home may outweigh it."
    )
    age_exact: float = Field(2.5, description="A reported age equal to the date of birth's.")
    age_near: float = Field(1.5, description="A reported age one year off.")
    age_far: float = Field(0.0, description="A reported age two years off.")
    age_conflict: float = Field(-5.0, description="A reported age further off: weighs against.")
    sex_conflict: float = Field(-4.0, description="Reported gender against mother/father.")
    home_dwelling: float = Field(6.0, description="The person's address is the subject's home.")
    home_near: float = Field(5.0, description="The home, known only nearly (no postcode).")
    home_weak: float = Field(2.5, description="The home's building, or the home approximately.")
    home_postcode: float = Field(2.0, description="Only the home's postcode agrees.")
    namesakes: float = Field(
        2.0,
        description="Bits taken off agreeing names, when no date of birth is compared, per"
        " doubling of the families in the register with a carer of that name (a"
        " term-frequency adjustment, as Splink makes).",
    )


DEFAULT_WEIGHTS = MatchWeights()


RULES_VERSION = "dvtrigger-rules/2.0 (Fellegi-Sunter match weights, near matches to review)"


class RulesConfig(BaseModel):
    """The tunable parts of the rule; the defaults are the protocol's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trigger_score: float = Field(
        0.996,
        description="Evidence scoring at least this triggers: a match probability (0.996 is a"
        " match weight of 8 bits) or a dwelling score (1.0 exact, 0.8 near, 0.6 weak).",
    )
    review_score: float = Field(
        0.25,
        description="Evidence scoring at least this (below `trigger_score`) asks for review:"
        " 0.25 is a match weight of -1.6 bits; a review costs minutes, a missed child more.",
    )
    weights: MatchWeights = Field(
        default_factory=MatchWeights,
        description="Match weights of person comparison, e.g. DVTRIGGER_RULES__WEIGHTS__DOB_NEAR.",
    )
    term_frequencies: TermFrequencies | None = Field(
        None,
        description="How common names and postcodes are in the register (`dvtrigger calibrate`"
        " writes them): a common one agreeing weighs less; None: no adjustment.",
    )
    timezone: str = Field("Europe/London", description="Where the incident day is judged.")
    gestation_days: int = Field(
        280,
        ge=0,
        le=MAX_GESTATION_DAYS,
        description="A pregnancy begins this long before its EDD (at most 400 days).",
    )
    infant_age_years: int = Field(0, description="A reported `age_years` up to this is a baby.")


#: The configuration `decide` uses unless given another.
DEFAULT_CONFIG = RulesConfig()
