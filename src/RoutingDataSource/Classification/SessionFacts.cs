namespace RoutingDataSource.Classification;

/// <summary>What a classified text leaves in the session (see <see cref="SessionEffect"/>).</summary>
/// <param name="Effect">The effect; <see cref="SessionEffect.Pins"/> for any session state the router does not model.</param>
/// <param name="Key">The parameter (canonical, lower case), prepared statement or temporary object it is about.</param>
/// <param name="ReplaySql">The statement that replays it elsewhere when it is not the text itself (<c>set_config</c>).</param>
/// <param name="CreatedName">The object a <c>CREATE TABLE/VIEW/SEQUENCE</c> makes (the last part of its name).</param>
/// <param name="CreatedUnlogged">That object is an unlogged table.</param>
internal readonly record struct SessionFacts(SessionEffect Effect, string? Key, string? ReplaySql, string? CreatedName, bool CreatedUnlogged);
