using FsCheck;
using FsCheck.Fluent;

namespace PolicyKit.Diffusion.Tests.Reliability;

/// <summary>
/// How many cases each fuzz property runs, and the runner that checks them.
/// The normal test run keeps every property to a few seconds; <c>POLICYKIT_FUZZ_CASES=200000</c> runs that
/// many cases per property instead (the opt-in long run).
/// </summary>
internal static class Fuzz
{
    public const string CasesVariable = "POLICYKIT_FUZZ_CASES";

    /// <summary>A file that holds the case being run (set it to find the input of a native crash).</summary>
    public const string TraceVariable = "POLICYKIT_FUZZ_TRACE";

    /// <summary>The opt-in case count, or <paramref name="normal"/> when the variable is unset.</summary>
    public static int Cases(int normal) =>
        int.TryParse(Environment.GetEnvironmentVariable(CasesVariable), out var n) && n > 0 ? n : normal;

    /// <summary>
    /// Checks <paramref name="property"/> on <paramref name="cases"/> generated values. The property returns
    /// an outcome label ("accepted", "refused") counted into <paramref name="tally"/>, or throws on a bug.
    /// </summary>
    public static void Check<T>(Gen<T> gen, int cases, Func<T, string> property, Dictionary<string, int> tally)
    {
        var trace = Environment.GetEnvironmentVariable(TraceVariable);
        var prop = Prop.ForAll(Arb.From(gen), (T value) =>
        {
            // A native crash ends the process before FsCheck can print the case: the trace file keeps the last one.
            if (trace is not null) File.WriteAllText(trace, value!.ToString());
            var outcome = property(value);
            lock (tally) tally[outcome] = tally.GetValueOrDefault(outcome) + 1;
        });
        // Sequential (FsCheck's default): the properties reuse one file path per test.
        FsCheck.Check.One(Config.QuickThrowOnFailure.WithMaxTest(cases).WithQuietOnSuccess(true), prop);
    }

    public static string Summary(Dictionary<string, int> tally) =>
        string.Join(", ", tally.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}: {kv.Value}")) + $" (total {tally.Values.Sum()})";

    /// <summary>
    /// Runs <paramref name="action"/> and returns what it threw (null when it returned) and the bytes the current
    /// thread allocated on the managed heap meanwhile: a parser that trusts a claimed size shows up here.
    /// </summary>
    public static (Exception? Error, long Allocated) Measure(Action action)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        Exception? error = null;
        try { action(); }
        catch (Exception e) { error = e; }
        return (error, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
