namespace PolicyKit.Tasks;

/// <summary>
/// The project's tasks, with disjoint train and test streams: the test stream draws from its own seed, and
/// the train stream skips any question that appears in the test set of the same seed.
/// </summary>
public static class TaskSuite
{
    /// <summary>
    /// The default suite of every command, which the shipped model (models/policykit-dream) is trained and benchmarked
    /// on: a long prompt with a short answer (needle), a long answer whose tokens depend on each other (running-sum)
    /// and one between them (sort), in the regimes a cache policy is about and learnable by a small diffusion model
    /// on a CPU.
    /// </summary>
    public static IReadOnlyList<IBenchmarkTask> All { get; } = [new NeedleTask(), new SortTask(), new RunningSumTask()];

    /// <summary>
    /// The first suite: key-value retrieval and chained arithmetic (which a small masked-diffusion model does not
    /// learn here, so they are also named hard-retrieval and hard-arithmetic) and transform, which the test fixture
    /// models/policykit-ref answers. Chosen by name.
    /// </summary>
    public static IReadOnlyList<IBenchmarkTask> Original { get; } = [new RetrievalTask(), new ArithmeticTask(), new TransformTask()];

    /// <summary>Other names of tasks: the key-value retrieval and chained arithmetic a small model does not learn here.</summary>
    public static IReadOnlyDictionary<string, string> Aliases { get; } = new Dictionary<string, string>
    {
        ["hard-retrieval"] = "retrieval",
        ["hard-arithmetic"] = "arithmetic",
    };

    /// <summary>Every task by name (aliases included), for error messages and listings.</summary>
    public static IEnumerable<string> Names => All.Concat(Original).Select(t => t.Name).Concat(Aliases.Keys);

    public static IBenchmarkTask Get(string name)
    {
        var canonical = Aliases.GetValueOrDefault(name, name);
        return All.Concat(Original).FirstOrDefault(t => t.Name == canonical)
               ?? throw new ArgumentException($"unknown task '{name}'. Known: {string.Join(", ", Names)}.");
    }

    /// <summary>The first <paramref name="count"/> test samples of a task; the same for a seed on every machine.</summary>
    public static IReadOnlyList<TaskSample> TestSet(IBenchmarkTask task, int count, int seed = 0)
    {
        var random = new Random(StreamSeed(task, seed, test: true));
        return Enumerable.Range(0, count).Select(_ => task.Sample(random)).ToArray();
    }

    /// <summary>An endless training stream that never yields a prompt of the first <paramref name="heldOut"/> test samples.</summary>
    public static IEnumerable<TaskSample> TrainStream(IBenchmarkTask task, int seed = 0, int heldOut = 1000)
    {
        var test = HeldOutQuestions(task, seed, heldOut);
        var random = new Random(StreamSeed(task, seed, test: false));
        while (true)
        {
            var sample = task.Sample(random);
            if (!test.Contains(sample.Question)) yield return sample;
        }
    }

    /// <summary>
    /// The training batch of one step: <paramref name="count"/> samples of one training variant of the task
    /// (<see cref="IBenchmarkTask.TrainingVariant"/>, so the batch is one length), drawn from (seed, step), none of
    /// them a question of the first <paramref name="heldOut"/> test samples. The same batch for the same step on
    /// every run, which is what makes training resumable.
    /// </summary>
    public static IReadOnlyList<TaskSample> TrainBatch(IBenchmarkTask task, int seed, int step, int count, int heldOut = 1000)
    {
        var test = HeldOutQuestions(task, seed, heldOut);
        var random = new Random(StreamSeed(task, seed, test: false) ^ (step * 104729));
        var variant = task.TrainingVariant(random);
        var batch = new List<TaskSample>(count);
        while (batch.Count < count)
        {
            var sample = variant.Sample(random);
            if (!test.Contains(sample.Question)) batch.Add(sample);
        }
        return batch;
    }

    private static HashSet<string> HeldOutQuestions(IBenchmarkTask task, int seed, int heldOut) =>
        HeldOut.GetOrAdd((task.Name, seed, heldOut), _ => TestSet(task, heldOut, seed).Select(s => s.Question).ToHashSet(StringComparer.Ordinal));

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(string, int, int), HashSet<string>> HeldOut = new();

    // A fixed mix of the task name, the seed and the stream, so streams differ between tasks and seeds.
    private static int StreamSeed(IBenchmarkTask task, int seed, bool test)
    {
        int h = 17;
        foreach (var c in task.Name) h = h * 31 + c;
        return h ^ (seed * 7919) ^ (test ? 0x5EED : 0x7A1A);
    }
}
