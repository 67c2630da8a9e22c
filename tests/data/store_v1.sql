-- A database made by vigil 0.1.0 (schema version 1, before migrations), dumped as SQL.
CREATE TABLE alerts (
	id VARCHAR(64) NOT NULL, 
	time VARCHAR(40) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	rule VARCHAR(200) NOT NULL, 
	severity VARCHAR(16) NOT NULL, 
	workload VARCHAR(512) NOT NULL, 
	container_id VARCHAR(128) NOT NULL, 
	body TEXT NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "alerts" VALUES('v1-alert-0','2026-11-01T12:00:00.000000Z','deviation','profile.new_executable','high','shop/Deployment/web/nginx','web-1','{"container": {"id": "web-1", "image": "nginx:1.27", "name": "nginx", "runtime": "runc"}, "event_type": "exec", "id": "v1-alert-0", "kind": "deviation", "message": "new process /bin/nc (0)", "mitre": [], "process": {"cmdline": "/bin/nc -l 4444", "exe": "/bin/nc", "pid": 4242, "ppid": 1, "uid": 0}, "response": {"actions": [], "playbook": null}, "rule": "profile.new_executable", "severity": "high", "time": "2026-11-01T12:00:00.000000Z", "workload": {"container": "nginx", "inferred": true, "kind": "Deployment", "name": "web", "namespace": "shop"}}');
INSERT INTO "alerts" VALUES('v1-alert-1','2026-11-01T12:00:01.000000Z','deviation','profile.new_executable','high','shop/Deployment/web/nginx','web-1','{"container": {"id": "web-1", "image": "nginx:1.27", "name": "nginx", "runtime": "runc"}, "event_type": "exec", "id": "v1-alert-1", "kind": "deviation", "message": "new process /bin/nc (1)", "mitre": [], "process": {"cmdline": "/bin/nc -l 4444", "exe": "/bin/nc", "pid": 4242, "ppid": 1, "uid": 0}, "response": {"actions": [], "playbook": null}, "rule": "profile.new_executable", "severity": "high", "time": "2026-11-01T12:00:01.000000Z", "workload": {"container": "nginx", "inferred": true, "kind": "Deployment", "name": "web", "namespace": "shop"}}');
CREATE TABLE meta (
	"key" VARCHAR(64) NOT NULL, 
	value TEXT NOT NULL, 
	PRIMARY KEY ("key")
);
INSERT INTO "meta" VALUES('schema_version','1');
CREATE TABLE profiles (
	"key" VARCHAR(512) NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	updated VARCHAR(40) NOT NULL, 
	body TEXT NOT NULL, 
	PRIMARY KEY ("key")
);
INSERT INTO "profiles" VALUES('shop/Deployment/web/nginx','locked','2026-11-28T05:07:02.298219Z','{"created": "2026-11-28T05:07:02.298190Z", "destinations": [], "executables": ["/bin/sh"], "key": "shop/Deployment/web/nginx", "locked_at": "2026-11-28T05:07:02.298219Z", "reported": [], "size": 1, "state": "locked", "updated": "2026-11-28T05:07:02.298219Z", "workload": {"container": "nginx", "inferred": true, "kind": "Deployment", "name": "web", "namespace": "shop"}}');
CREATE INDEX ix_alerts_time ON alerts (time);
CREATE INDEX ix_alerts_workload ON alerts (workload);
