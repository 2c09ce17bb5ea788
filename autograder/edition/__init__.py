"""The student edition: what students receive (site, exercises, wheel), checked for what they must not see."""
