using System.Text.RegularExpressions;

namespace PolicyKit.Tasks.Tests;

public class TaskSuiteTests
{
    /// <summary>The first suite (retrieval, arithmetic, transform).</summary>
    public static TheoryData<string> Tasks => new(TaskSuite.Original.Select(t => t.Name));

    /// <summary>Both suites: the default one and the first one.</summary>
    public static TheoryData<string> EveryTask => new(TaskSuite.All.Concat(TaskSuite.Original).Select(t => t.Name));

    [Theory]
    [MemberData(nameof(EveryTask))]
    public void The_same_seed_gives_the_same_samples_and_another_seed_others(string name)
    {
        var task = TaskSuite.Get(name);
        Assert.Equal(TaskSuite.TestSet(task, 20, seed: 3), TaskSuite.TestSet(task, 20, seed: 3));
        Assert.NotEqual(TaskSuite.TestSet(task, 20, seed: 3), TaskSuite.TestSet(task, 20, seed: 4));
        Assert.Equal(TaskSuite.TrainBatch(task, 1, step: 7, count: 5), TaskSuite.TrainBatch(task, 1, step: 7, count: 5));
        Assert.NotEqual(TaskSuite.TrainBatch(task, 1, step: 7, count: 5), TaskSuite.TrainBatch(task, 1, step: 8, count: 5));
    }

    [Theory]
    [MemberData(nameof(EveryTask))]
    public void Training_batches_never_contain_a_test_prompt_and_test_prompts_are_distinct(string name)
    {
        var task = TaskSuite.Get(name);
        var test = TaskSuite.TestSet(task, 1000, seed: 0).Select(s => s.Question).ToHashSet();
        Assert.Equal(1000, test.Count);
        for (int step = 0; step < 50; step++)
            Assert.All(TaskSuite.TrainBatch(task, 0, step, 8), s => Assert.DoesNotContain(s.Question, test));
    }

    [Theory]
    [MemberData(nameof(Tasks))]
    public void A_training_batch_is_one_length_and_the_test_set_the_full_task(string name)
    {
        var task = TaskSuite.Get(name);
        var lengths = new HashSet<int>();
        for (int step = 0; step < 40; step++)
        {
            var batch = TaskSuite.TrainBatch(task, 0, step, 6);
            Assert.Single(batch.Select(s => (s.Prompt.Length, s.Answer.Length)).Distinct());
            lengths.Add(batch[0].Prompt.Length);
        }
        Assert.True(lengths.Count > 1, "training draws shorter variants too");
        Assert.Equal(lengths.Max(), TaskSuite.TestSet(task, 1)[0].Prompt.Length);
    }

    [Fact]
    public void Few_shot_preambles_are_fixed_solved_examples_and_questions_follow_them()
    {
        foreach (var name in new[] { "arithmetic", "transform" })
        {
            var samples = TaskSuite.TestSet(TaskSuite.Get(name), 5);
            var preamble = samples[0].Prompt[..samples[0].QuestionStart];
            Assert.NotEmpty(preamble);
            Assert.All(samples, s => Assert.StartsWith(preamble, s.Prompt));
            Assert.Equal(samples.Count, samples.Select(s => s.Question).Distinct().Count());
            Assert.EndsWith("|", preamble);
        }
    }

    [Theory]
    [MemberData(nameof(Tasks))]
    public void Samples_are_in_the_regime_the_task_stands_for(string name)
    {
        var task = TaskSuite.Get(name);
        foreach (var s in TaskSuite.TestSet(task, 50))
        {
            Assert.Matches("^[A-Za-z0-9=;?+,|-]+$", s.Prompt + s.Answer);
            Assert.DoesNotMatch("[a-z]{2}", s.Prompt + s.Answer);  // no two lower-case letters in a row: no BPE merge applies
            Assert.True(s.Answer.Length <= task.GenLength);
            switch (name)
            {
                case "retrieval": Assert.True(s.Prompt.Length >= 256); break;
                case "arithmetic": Assert.True(s.Answer.Length >= 48); break;
                case "transform": Assert.True(s.Answer.Length >= 32); break;
            }
        }
    }

    [Fact]
    public void Retrieval_answers_are_the_value_of_the_asked_key()
    {
        foreach (var s in TaskSuite.TestSet(TaskSuite.Get("retrieval"), 50))
        {
            var asked = Regex.Match(s.Prompt, @"\?([A-Za-z])=$").Groups[1].Value;
            var keys = Regex.Matches(s.Prompt, "(?:^|;)([A-Za-z])=").Select(m => m.Groups[1].Value).ToArray();
            Assert.Equal(keys.Length, keys.Distinct().Count());
            var value = Regex.Match(s.Prompt, $"(?:^|;){asked}=([0-9]{{3}});").Groups[1].Value;
            Assert.Equal(value, s.Answer);
        }
    }

    [Fact]
    public void Arithmetic_answers_list_every_running_value()
    {
        foreach (var s in TaskSuite.TestSet(TaskSuite.Get("arithmetic"), 50))
        {
            var q = s.Question;
            int value = int.Parse(q[..2]);
            Assert.Matches(@"^\d\d([+-]\d;){16}=$", q);
            var expected = string.Concat(Regex.Matches(q[2..^1], @"([+-])(\d);").Select(m =>
            {
                value += (m.Groups[1].Value == "+" ? 1 : -1) * int.Parse(m.Groups[2].Value);
                Assert.InRange(value, 0, 99);
                return value.ToString("D2") + ",";
            }));
            Assert.Equal(expected, s.Answer);
        }
    }

    [Fact]
    public void Transform_answers_are_the_reversed_letters()
    {
        foreach (var s in TaskSuite.TestSet(TaskSuite.Get("transform"), 50))
        {
            var pairs = Regex.Matches(s.Question, "[a-z][A-Z]").Select(m => m.Value).ToArray();
            Assert.Equal(16, pairs.Length);
            Assert.Equal(string.Concat(pairs.Select((p, i) => (char)('a' + i))), string.Concat(pairs.Select(p => p[0])));
            Assert.Equal(string.Concat(pairs.Reverse()), s.Answer);
        }
    }

    [Fact]
    public void Exact_match_ignores_surrounding_whitespace_only()
    {
        var s = new TaskSample("t", "p", "417");
        Assert.True(s.IsCorrect("417"));
        Assert.True(s.IsCorrect(" 417\n"));
        Assert.False(s.IsCorrect("4170"));
        Assert.False(s.IsCorrect("41"));
    }

    [Fact]
    public void Unknown_tasks_are_named_in_the_error()
    {
        var e = Assert.Throws<ArgumentException>(() => TaskSuite.Get("poetry"));
        Assert.Contains("poetry", e.Message);
        Assert.Contains("retrieval", e.Message);
    }
}
