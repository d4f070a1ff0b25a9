using BenchmarkDotNet.Attributes;
using PolicyKit;
using PolicyKit.Policies;

namespace PolicyKit.Benchmarks;

/// <summary>
/// Cost of one Plan call (one layer of one step) for dllm-cache, three ways. Each invocation plans 1,024 varied
/// contexts so branch prediction sees a realistic mix; results are per Plan call.
/// </summary>
[MemoryDiagnoser]
public class PlanBenchmarks
{
    private const int Contexts = 1024;
    private StepContext[] _contexts = [];
    private ICachePolicy _generated = null!;
    private ICachePolicy _handWritten = null!;
    private ICachePolicy _interpreted = null!;
    private ICachePolicy _perCall = null!;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        int Counter() => random.Next(8) == 0 ? random.Next(1, 200) : random.Next(1, 10);
        _contexts = Enumerable.Range(0, Contexts).Select(i => new StepContext
        {
            Step = 1 + i / 32, Layer = i % 32, LayerCount = 32, BlockCount = 8, BlockIndex = (i / 256) % 8, StepInBlock = 1 + i / 32 % 16,
            PromptLength = 512, ResponseLength = 256, ActiveBlockStart = 32 * ((i / 256) % 8), ActiveBlockLength = 32,
            StepsSincePromptRefresh = Counter(), StepsSinceResponsePrefixRefresh = Counter(),
            StepsSinceActiveBlockRefresh = Counter(), StepsSinceResponseSuffixRefresh = Counter(),
        }).ToArray();

        _generated = new DllmCache();
        _handWritten = new HandWrittenDllmCache();
        _interpreted = new ReflectionInterpretedPolicy(typeof(DllmCache));
        _perCall = new ReflectionPerCallPolicy(typeof(DllmCache));

        // The comparison is only fair if all four compute the same plans.
        foreach (var context in _contexts)
        {
            var expected = _generated.Plan(in context);
            foreach (var other in new[] { _handWritten, _interpreted, _perCall })
            {
                if (other.Plan(in context) != expected)
                    throw new InvalidOperationException($"{other.Name} disagrees at {context}: {other.Plan(in context)} vs {expected}");
            }
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Contexts)]
    public int Generated() => Run(_generated);

    [Benchmark(OperationsPerInvoke = Contexts)]
    public int HandWritten() => Run(_handWritten);

    [Benchmark(OperationsPerInvoke = Contexts)]
    public int ReflectionInterpreted() => Run(_interpreted);

    [Benchmark(OperationsPerInvoke = Contexts)]
    public int ReflectionPerCall() => Run(_perCall);

    private int Run(ICachePolicy policy)
    {
        int sum = 0;
        var contexts = _contexts;
        for (int i = 0; i < contexts.Length; i++)
            sum += (int)policy.Plan(in contexts[i]).ActiveBlock.Kind;
        return sum;
    }
}

/// <summary>
/// Cost and allocation of one Plan call for every built-in policy (first and second wave), over the same varied
/// contexts as <see cref="PlanBenchmarks"/>; the Allocated column must read 0 B on every row.
/// </summary>
[MemoryDiagnoser]
public class BuiltInPlanBenchmarks
{
    private const int Contexts = 1024;
    private StepContext[] _contexts = [];
    private ICachePolicy _policy = null!;

    public static IEnumerable<string> Names => PolicyKit.Generated.PolicyKitPoliciesPolicyRegistry.Names;

    [ParamsSource(nameof(Names))]
    public string Policy { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        int Counter() => random.Next(8) == 0 ? random.Next(1, 200) : random.Next(1, 10);
        _contexts = Enumerable.Range(0, Contexts).Select(i => new StepContext
        {
            Step = 1 + i / 32, Layer = i % 32, LayerCount = 32, BlockCount = 8, BlockIndex = (i / 256) % 8, StepInBlock = 1 + i / 32 % 16,
            PromptLength = 512, ResponseLength = 256, ActiveBlockStart = 32 * ((i / 256) % 8), ActiveBlockLength = 32,
            StepsSincePromptRefresh = Counter(), StepsSinceResponsePrefixRefresh = Counter(),
            StepsSinceActiveBlockRefresh = Counter(), StepsSinceResponseSuffixRefresh = Counter(),
            TriggeredAtLayer = i % 3 == 0 && i % 32 > 0 ? random.Next(i % 32) : null,  // the cross-layer trigger's path too
        }).ToArray();
        _policy = PolicyKit.Generated.PolicyKitPoliciesPolicyRegistry.Create(Policy);
    }

    [Benchmark(OperationsPerInvoke = Contexts)]
    public int Plan()
    {
        int sum = 0;
        var contexts = _contexts;
        for (int i = 0; i < contexts.Length; i++)
        {
            var plan = _policy.Plan(in contexts[i]);
            sum += (int)plan.ActiveBlock.Kind + plan.Window;
        }
        return sum;
    }
}
