using FsCheck;
using FsCheck.Fluent;

namespace PolicyKit.Testing;

/// <summary>One rule every cache policy must keep, as a check of one plan.</summary>
/// <param name="Name">What the rule says, e.g. "refreshes everything at step 0".</param>
/// <param name="FindViolation">Returns why <c>policy</c> breaks the rule at <c>context</c>, or null when it keeps it.</param>
public sealed record PolicyInvariant(string Name, Func<ICachePolicy, StepContext, string?> FindViolation);

/// <summary>Thrown by <see cref="PolicyInvariants.Check"/> with the broken rule and a counterexample context.</summary>
public sealed class PolicyInvariantException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The invariants the engine relies on, for any <see cref="ICachePolicy"/> (generated or hand-written). Run them on
/// your own policy in a test: <c>PolicyInvariants.Check(new MyPolicy());</c>.
/// </summary>
public static class PolicyInvariants
{
    public static PolicyInvariant RefreshesEverythingAtStepZero { get; } = new(
        "refreshes everything at step 0 (except a dropped far suffix)",
        (policy, context) => context.Step == 0 && !(policy.Plan(in context) with { FarSuffix = null }).IsRefreshAll
            ? $"plan at step 0 is '{policy.Plan(in context)}'; nothing is cached yet, so every row not dropped must be Refresh"
            : null);

    public static PolicyInvariant DropsOnlyTheFarSuffix { get; } = new(
        "drops only the far suffix",
        (policy, context) =>
        {
            var plan = policy.Plan(in context);
            foreach (var segment in Enum.GetValues<Segment>())
                if (plan[segment].Kind == ActionKind.Drop)
                    return $"{segment} is dropped, but its logits or keys may be needed; only LayerPlan.FarSuffix may be Drop";
            if (plan.Vicinity is { Kind: ActionKind.Drop } || plan.Masked is { Kind: ActionKind.Drop } || plan.JustDecoded is { Kind: ActionKind.Drop })
                return $"plan '{plan}' drops the vicinity or a decode state; only LayerPlan.FarSuffix may be Drop";
            if (plan.FarSuffix is { Kind: ActionKind.Drop } && plan.Window <= 0)
                return $"plan '{plan}' drops the far suffix with Window = {plan.Window}; the window must be at least 1";
            return null;
        });

    public static PolicyInvariant RefreshesNeverCachedSegments { get; } = new(
        "refreshes segments that were never cached",
        (policy, context) =>
        {
            var plan = policy.Plan(in context);
            foreach (var segment in Enum.GetValues<Segment>())
            {
                if (context.StepsSinceRefresh(segment) == StepContext.NeverRefreshed && plan[segment].Kind != ActionKind.Refresh)
                    return $"{segment} has never been refreshed at this layer but the plan says '{plan[segment]}'";
            }
            return null;
        });

    public static PolicyInvariant IsDeterministic { get; } = new(
        "plans are deterministic functions of the context",
        (policy, context) =>
        {
            var first = policy.Plan(in context);
            var other = new StepContext { Step = context.Step + 1, Layer = 0, LayerCount = Math.Max(1, context.LayerCount), StepInBlock = 1,
                StepsSincePromptRefresh = 1, StepsSinceResponsePrefixRefresh = 1, StepsSinceActiveBlockRefresh = 1, StepsSinceResponseSuffixRefresh = 1 };
            policy.Plan(in other); // a call in between must not change the answer (no hidden state)
            var second = policy.Plan(in context);
            return first == second ? null : $"the same context gave '{first}' and then '{second}'";
        });

    public static PolicyInvariant AdaptiveParametersInRange { get; } = new(
        "adaptive parameters (every slot) and drift tests stay in range",
        (policy, context) =>
        {
            var plan = policy.Plan(in context);
            (string Slot, SegmentAction? Action)[] slots =
            [
                (nameof(Segment.Prompt), plan.Prompt), (nameof(Segment.ResponsePrefix), plan.ResponsePrefix), (nameof(Segment.ActiveBlock), plan.ActiveBlock),
                (nameof(Segment.ResponseSuffix), plan.ResponseSuffix), (nameof(LayerPlan.Vicinity), plan.Vicinity), (nameof(LayerPlan.FarSuffix), plan.FarSuffix),
                (nameof(LayerPlan.Masked), plan.Masked), (nameof(LayerPlan.JustDecoded), plan.JustDecoded),
            ];
            foreach (var (slot, slotAction) in slots)
            {
                if (slotAction is not { } action)
                    continue;
                if (!Enum.IsDefined(action.Kind))
                    return $"{slot} has an undefined action kind {(int)action.Kind}";
                if (action.Kind != ActionKind.Adaptive)
                    continue;
                if (!Enum.IsDefined(action.Probe) || !Enum.IsDefined(action.Metric) || !Enum.IsDefined(action.Selector))
                    return $"{slot} has an undefined probe, metric or selector: '{action}'";
                if (action.Selector == Selector.Ratio && !(action.Value > 0 && action.Value <= 1))
                    return $"{slot} has adaptive ratio {action.Value}, outside (0, 1]";
                if (action.Selector == Selector.Threshold && !(action.Value >= -1 && action.Value <= 1))
                    return $"{slot} has adaptive threshold {action.Value}, outside [-1, 1]";
                if (action.Selector == Selector.Threshold && !action.Probe.IsSimilarity())
                    return $"{slot} ranks by the row score {action.Probe} with a threshold; row scores take a ratio";
            }
            if (plan.Trigger is { } trigger && (!(trigger.Threshold >= -1 && trigger.Threshold <= 1) || !trigger.Probe.IsSimilarity()))
                return $"the plan's {trigger} needs a threshold in [-1, 1] and a Value, Key or Input probe";
            return null;
        });

    public static PolicyInvariant UncachedPolicyRefreshesEverything { get; } = new(
        "a policy without cache always refreshes everything",
        (policy, context) => !policy.UsesCache && !policy.Plan(in context).IsRefreshAll
            ? $"UsesCache is false but the plan is '{policy.Plan(in context)}'"
            : null);

    /// <summary>Every invariant, in the order <see cref="Check"/> runs them.</summary>
    public static IReadOnlyList<PolicyInvariant> All { get; } =
    [
        RefreshesEverythingAtStepZero, RefreshesNeverCachedSegments, IsDeterministic, AdaptiveParametersInRange, UncachedPolicyRefreshesEverything,
        DropsOnlyTheFarSuffix,
    ];

    /// <summary>The first invariant <paramref name="policy"/> breaks at <paramref name="context"/>, as a message; null when it keeps all.</summary>
    public static string? FindViolation(ICachePolicy policy, StepContext context)
    {
        foreach (var invariant in All)
        {
            if (invariant.FindViolation(policy, context) is { } violation)
                return $"{invariant.Name}: {violation}";
        }
        return null;
    }

    /// <summary>
    /// Checks the policy's name and parameters, then every invariant on <paramref name="maxTests"/> generated contexts
    /// (at least one in eight at step 0). Throws <see cref="PolicyInvariantException"/> naming the broken invariant and
    /// a counterexample context.
    /// </summary>
    public static void Check(ICachePolicy policy, int maxTests = 2000)
    {
        ArgumentNullException.ThrowIfNull(policy);
        if (string.IsNullOrWhiteSpace(policy.Name))
            throw new PolicyInvariantException($"Policy {policy.GetType().FullName} has an empty name.");
        if (policy.Parameters is null)
            throw new PolicyInvariantException($"Policy '{policy.Name}' returns null Parameters.");
        var duplicate = policy.Parameters.GroupBy(p => p.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new PolicyInvariantException($"Policy '{policy.Name}' lists parameter '{duplicate.Key}' twice.");

        var property = Prop.ForAll(Arb.From(StepContextGenerators.Any), context =>
        {
            string? violation = FindViolation(policy, context);
            return (violation is null).Label(violation ?? "");
        });
        try
        {
            FsCheck.Check.One(Config.QuickThrowOnFailure.WithMaxTest(maxTests).WithQuietOnSuccess(true), property);
        }
        catch (Exception failure) when (failure is not PolicyInvariantException)
        {
            throw new PolicyInvariantException($"Policy '{policy.Name}' breaks an invariant. {failure.Message}", failure);
        }
    }
}
