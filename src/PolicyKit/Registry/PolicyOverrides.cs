using System.Globalization;

namespace PolicyKit;

/// <summary>
/// Reads and validates parameter overrides for generated policies' <c>Create(overrides)</c>. The rules match
/// the generator's compile-time diagnostics, and the messages carry the same IDs, so a value rejected in
/// configuration reads like the same value rejected in an attribute.
/// </summary>
public static class PolicyOverrides
{
    /// <summary>Throws when <paramref name="overrides"/> names a parameter the policy does not let a host override.</summary>
    public static void EnsureKnown(string policyName, IReadOnlyDictionary<string, string> overrides, IReadOnlyList<string> overridable)
    {
        ArgumentNullException.ThrowIfNull(overrides);
        foreach (var key in overrides.Keys)
        {
            bool known = false;
            foreach (var name in overridable)
                known |= string.Equals(key, name, StringComparison.OrdinalIgnoreCase);
            if (!known)
            {
                var list = overridable.Count == 0 ? "none" : string.Join(", ", overridable);
                throw new ArgumentException(
                    $"Policy '{policyName}' has no overridable parameter '{key}'. Overridable parameters: {list}.", nameof(overrides));
            }
        }
    }

    /// <summary>A refresh interval: an integer of at least 1 (PK0002).</summary>
    public static int Interval(string policyName, IReadOnlyDictionary<string, string>? overrides, string parameter, int defaultValue)
    {
        if (!TryGet(overrides, parameter, out var text))
            return defaultValue;
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) || value < 1)
            throw Invalid(policyName, parameter, text, "PK0002", "a refresh interval must be an integer of at least 1 (1 = every step)");
        return value;
    }

    /// <summary>An adaptive ratio in (0, 1] (PK0003).</summary>
    public static double Ratio(string policyName, IReadOnlyDictionary<string, string>? overrides, string parameter, double defaultValue)
    {
        if (!TryGet(overrides, parameter, out var text))
            return defaultValue;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !(value > 0 && value <= 1))
            throw Invalid(policyName, parameter, text, "PK0003", "an adaptive ratio must be a number in (0, 1]");
        return value;
    }

    /// <summary>A cosine-similarity threshold in [-1, 1] (PK0004).</summary>
    public static double Threshold(string policyName, IReadOnlyDictionary<string, string>? overrides, string parameter, double defaultValue)
    {
        if (!TryGet(overrides, parameter, out var text))
            return defaultValue;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !(value >= -1 && value <= 1))
            throw Invalid(policyName, parameter, text, "PK0004", "a similarity threshold must be a number in [-1, 1]");
        return value;
    }

    /// <summary>A probe name: Value, Key or Input.</summary>
    public static Probe Probe(string policyName, IReadOnlyDictionary<string, string>? overrides, string parameter, Probe defaultValue)
    {
        if (!TryGet(overrides, parameter, out var text))
            return defaultValue;
        if (!Enum.TryParse(text, ignoreCase: true, out Probe value) || !Enum.IsDefined(value) || int.TryParse(text, out _))
            throw Invalid(policyName, parameter, text, null, $"a probe must be one of {string.Join(", ", Enum.GetNames<Probe>())}");
        return value;
    }

    private static bool TryGet(IReadOnlyDictionary<string, string>? overrides, string parameter, out string text)
    {
        if (overrides is not null)
        {
            foreach (var (key, value) in overrides)
            {
                if (string.Equals(key, parameter, StringComparison.OrdinalIgnoreCase))
                {
                    text = value;
                    return true;
                }
            }
        }
        text = "";
        return false;
    }

    private static ArgumentException Invalid(string policyName, string parameter, string text, string? id, string rule) =>
        new($"{(id is null ? "" : id + ": ")}override '{parameter}' = '{text}' of policy '{policyName}' is invalid: {rule}.", parameter);
}
